# shellcheck shell=dash disable=SC1091,SC2086,SC2015
# `luoctl load` refusals, one boot: each gives exit 1, names its cause, and
# leaves nothing loaded (/sys/kernel/kexec_loaded 0, luoctl status: no
# kernel):
#   a non-relocatable image (XLF_CAN_BE_LOADED_ABOVE_4G cleared) -> ENOEXEC,
#     CONFIG_RELOCATABLE; a command line too long -> EINVAL with the limit;
#   files that are not kernels -> ENOEXEC "not a bzImage"; a missing file ->
#   its path; --dry-run of a good image -> exit 0, the command line, nothing
#   loaded; last, kernel.kexec_load_disabled=1 -> EPERM saying so.
. /lib/luo-vm/lib.sh
expect_boots 1
GOOD="$KERNEL_IMAGE --reuse-cmdline --append luo_boot=2"
start_luod
expect_nothing_loaded "at the start"

# (a) Not relocatable: clear bit 1 of xloadflags (16-bit LE at 0x236).
BAD=/tmp/bzImage.norelocate
cp "$KERNEL_IMAGE" "$BAD"
old=$(dd if="$BAD" bs=1 skip=$((0x236)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
new=$((old & ~2))
# shellcheck disable=SC2059
printf "\\$(printf %03o "$new")" | dd of="$BAD" bs=1 seek=$((0x236)) count=1 conv=notrunc 2>/dev/null
got=$(dd if="$BAD" bs=1 skip=$((0x236)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
[ "$got" = "$new" ] && [ "$new" != "$old" ] || fail setup "patching xloadflags failed ($old -> $got, wanted $new)"
say "xloadflags low byte $old -> $new in $BAD"
expect_load_fails "non-relocatable image" \
	'^luoctl: load: kernel image /tmp/bzImage.norelocate: .*XLF_CAN_BE_LOADED_ABOVE_4G.*CONFIG_RELOCATABLE.*\(ENOEXEC\)$' -- \
	"$BAD" --reuse-cmdline
# For the record: luod refuses before the system call, so the kernel's own
# ENOEXEC ("XLF_CAN_BE_LOADED_ABOVE_4G is not set" in dmesg) is not reached
# here. kexec-tools, for comparison, refuses it in its own probing too.
if run kexec -s -l "$BAD" --reuse-cmdline; then
	kexec -s -u
	say "note: kexec-tools loaded the non-relocatable image"
fi
dmesg | grep -i 'XLF_CAN_BE_LOADED_ABOVE_4G' | prefix
expect_nothing_loaded "after kexec-tools tried the non-relocatable image"

# (b) A command line too long. The limit is the image's cmdline_size (32-bit
# LE at 0x238; 2047 on x86) less the NUL and the 30 bytes the kernel keeps
# for elfcorehdr=: 2016 characters. Exactly the limit loads; one more, or
# about 2100, is refused.
# cmdline_of_len N: "liveupdate=on kho=on pad1=... padK=xxx", N characters
# (distinct names: a parameter given twice would be kept once).
cmdline_of_len() {
	local l="liveupdate=on kho=on" i=0
	while [ $((${#l} + 21)) -lt "$1" ]; do i=$((i + 1)); l="$l pad$i=0123456789abcdef"; done
	l="$l z="
	while [ ${#l} -lt "$1" ]; do l="${l}x"; done
	echo "$l"
}
csize=$(dd if="$KERNEL_IMAGE" bs=1 skip=$((0x238)) count=4 2>/dev/null | od -An -tu4 | tr -d ' ')
max=$((csize - 30 - 1))
say "cmdline_size $csize: at most $max characters"
line=$(cmdline_of_len "$max")
[ ${#line} = "$max" ] || fail setup "cmdline_of_len made ${#line} characters, not $max"
run_capture luoctl load "$KERNEL_IMAGE" --cmdline "$line" >/dev/null ||
	fail check "luoctl load with a command line of exactly $max characters (the limit) failed: $(echo "$RUN_OUT" | head -n1)"
[ "$(cat /sys/kernel/kexec_loaded)" = 1 ] || fail check "a command line of $max characters: not loaded"
say "a command line of $max characters (the limit) loads"
run luoctl unload || fail check "luoctl unload failed"
expect_nothing_loaded "after luoctl unload"
line=$(cmdline_of_len $((max + 1)))
expect_load_fails "command line of $((max + 1)) characters" \
	"^luoctl: load: command line too long.*: $((max + 1)) bytes given, this kernel takes at most $max \\(EINVAL\\)\$" -- \
	"$KERNEL_IMAGE" --cmdline "$line"
line=$(cmdline_of_len 2100)
expect_load_fails "command line of 2100 characters" "2100 bytes given, this kernel takes at most $max \\(EINVAL\\)" -- \
	"$KERNEL_IMAGE" --cmdline "$line"

# (c) Files that are not kernels.
head -c 8192 /dev/urandom >/tmp/random8k
expect_load_fails "random 8 KiB" '^luoctl: load: kernel image /tmp/random8k: not a bzImage.*\(ENOEXEC\)$' -- \
	/tmp/random8k --reuse-cmdline
head -c 8192 /dev/zero | tr '\0' 'x' >/tmp/text8k
expect_load_fails "8 KiB of text" '^luoctl: load: kernel image /tmp/text8k: not a bzImage.*\(ENOEXEC\)$' -- \
	/tmp/text8k --reuse-cmdline
# Shorter than a boot sector: "too short to be a bzImage".
expect_load_fails "/etc/passwd" '^luoctl: load: kernel image /etc/passwd: .*bzImage.*\(ENOEXEC\)$' -- \
	/etc/passwd --reuse-cmdline

# (d) Missing files: the kernel, then an initrd.
expect_load_fails "missing kernel" '^luoctl: load: cannot open /boot/no-such-bzImage: No such file' -- /boot/no-such-bzImage --reuse-cmdline
expect_load_fails "missing initrd" '^luoctl: load: cannot open /run/no-such-initrd: No such file' -- $GOOD --initrd /run/no-such-initrd

# (e) --dry-run of a good image: exit 0, the command line shown, nothing loaded.
run_capture luoctl load $GOOD --append dry=run --dry-run || fail check "luoctl load --dry-run failed"
echo "$RUN_OUT" | grep -qE '^cmdline: .*liveupdate=on.* dry=run' || fail check "luoctl load --dry-run does not show the command line"
echo "$RUN_OUT" | grep -q 'nothing was loaded' || fail check "luoctl load --dry-run does not say nothing was loaded"
expect_nothing_loaded "--dry-run"

# (f) Last, it cannot be undone in this boot: kexec loading disabled.
echo 1 >/proc/sys/kernel/kexec_load_disabled || fail setup "cannot set kernel.kexec_load_disabled"
expect_load_fails "kexec_load_disabled=1" '^luoctl: load: kexec_file_load: .*\(EPERM\): kernel.kexec_load_disabled is 1' -- $GOOD
pass
