# Prints a kernel's loads, barriers and the instructions that wait on a scoreboard, with the scoreboard fields
# decoded from the control bits of each 128-bit SASS instruction (stall 4 bits, yield 1, write barrier 3,
# read barrier 3, wait mask 6, starting at bit 105). Usage: sbdecode.py <cuobjdump -sass output of one kernel> [first last]
import re, sys
lines = open(sys.argv[1]).read().split('\n')
lo, hi = (int(sys.argv[2], 16), int(sys.argv[3], 16)) if len(sys.argv) > 3 else (0, 1 << 30)
i = 0
while i < len(lines):
    m = re.match(r'\s+/\*([0-9a-f]{4})\*/\s+(.*?);\s+/\* 0x([0-9a-f]{16}) \*/', lines[i])
    if m and i + 1 < len(lines):
        w2 = int(re.search(r'/\* 0x([0-9a-f]{16}) \*/', lines[i + 1]).group(1), 16)
        c = w2 >> 41
        wr, rd, wait = (c >> 5) & 7, (c >> 8) & 7, (c >> 11) & 0x3f
        addr, txt = int(m.group(1), 16), m.group(2)
        if lo <= addr <= hi and ('LDG' in txt or 'LDGSTS' in txt or 'DEPBAR' in txt or 'BAR' in txt or 'LDS' in txt or wait):
            print(f"{addr:04x} write-sb={wr if wr != 7 else '-'} read-sb={rd if rd != 7 else '-'} wait-mask={wait:06b}  {txt[:80]}")
        i += 2
    else:
        i += 1
