# run e: the same binaries as run d, a second call: 5 alternating rounds, moe_ffn M1 hot only
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu; for r in 1 2 3 4 5; do for t in base new nochk; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "moe_ffn qwen3 M1 hot"; done; done | tee $OUT/e_decode_executors.txt
