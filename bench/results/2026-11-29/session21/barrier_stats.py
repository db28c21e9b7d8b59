import re,sys,statistics as st
d={}
for l in open(sys.argv[1]):
    if l.startswith('=='): cur=l.split()[1]; rec={}; d.setdefault(cur,[]).append(rec); continue
    m=re.match(r'caller_threads \((\w+) barrier\)\s+(\S+).*?:\s+([\d.]+) us.*phases (.*)',l)
    if m: rec[(m.group(1),m.group(2))]=(float(m.group(3)),[float(x) for x in m.group(4).split()])
for t,rs in d.items():
    last=[r[('library','moe_ffn')][1][-1]-r[('spin','moe_ffn')][1][-1] for r in rs]
    ph=[sum(r[('library','moe_ffn')][1])-sum(r[('spin','moe_ffn')][1]) for r in rs]
    print(f"{t:6s} last-phase lib-spin {sorted(round(x,1) for x in last)} median {st.median(last):+.1f} | all phases median {st.median(ph):+.1f}")
