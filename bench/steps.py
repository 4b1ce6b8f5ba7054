# Instructions of one call, counted by single-stepping it in gdb: deterministic like callgrind
# (bench/icount.sh), but on any kernel path, AVX-512 included (valgrind cannot run AVX-512).
# Also lists the loads that read across more than one recent store, or past the store they
# start in: a store the core cannot forward to such a load, which then waits for the store to
# reach the cache (tens of cycles that no instruction count shows). Run through bench/steps.sh.
import os
import re

import gdb

ENTRY = os.environ.get("STEPS_SYMBOL", "mml_forward")
WINDOW = 80  # stores remembered: about as many as a core holds in flight
MEMORY = re.compile(r"(-?0x[0-9a-f]+|-?\d+)?\((%\w+)?(?:,(%\w+)(?:,(\d))?)?\)")


def register(name):
    return int(gdb.parse_and_eval("$" + name[1:])) & (2**64 - 1)


def width(mnemonic, operands):
    """Bytes a memory operand of this instruction covers (AT&T syntax)."""
    if re.match(r"^(movzb|movsb|set|kmovb)|^(mov|cmp|test|and|or|xor|add|sub)b$", mnemonic):
        return 1
    if re.match(r"^(movzw|movsw|kmovw)|^(mov|cmp|test|and|or|xor|add|sub)w$", mnemonic):
        return 2
    if mnemonic in ("vbroadcastss", "vpbroadcastd", "movss", "vmovss", "movd", "vmovd", "kmovd"):
        return 4
    if mnemonic in ("vbroadcastsd", "vpbroadcastq", "movsd", "vmovsd", "vmovq", "kmovq"):
        return 8
    if re.match(r"^v?(add|sub|mul|div|min|max|sqrt|u?comi|cmp[a-z]*)sd$", mnemonic):
        return 8
    if re.match(r"^v?(add|sub|mul|div|min|max|sqrt|u?comi|cmp[a-z]*)ss$", mnemonic):
        return 4
    if mnemonic.startswith("vcvtps2pd"):
        return 32 if "zmm" in operands else 16
    for name, size in (("zmm", 64), ("ymm", 32), ("xmm", 16)):
        if name in operands and not mnemonic.startswith("movq"):
            return size
    if re.search(r"%[abcd]l\b|%(si|di|bp|sp)l\b|%r\d+b\b", operands):
        return 1
    if re.search(r"%[abcd]x\b|%(si|di|bp|sp)\b|%r\d+w\b", operands):
        return 2
    if re.search(r"%e\w\w\b|%r\d+d\b", operands) or mnemonic.endswith("l"):
        return 4
    return 8


def main():
    gdb.execute("set pagination off")
    gdb.execute("set breakpoint pending on")
    gdb.execute(f"break {ENTRY}")
    gdb.execute("run", to_string=True)  # the warm-up call: the library is loaded now
    gdb.execute("delete")
    gdb.execute("set language c")
    gdb.execute(f"break *{ENTRY}")
    gdb.execute("continue", to_string=True)  # the first counted call, at its first instruction
    back = int(gdb.parse_and_eval("*(unsigned long *)$sp"))
    gdb.execute("delete")
    per_function, stores, blocked, steps = {}, [], [], 0
    while True:
        pc = int(gdb.parse_and_eval("$pc"))
        if pc == back:
            break
        text = gdb.execute(f"x/i {pc}", to_string=True).split(":", 1)[1].strip()
        text = re.sub(r"\s+#.*|<[^>]*>", "", text)
        mnemonic, _, operands = text.partition(" ")
        operands = operands.strip()
        symbol = gdb.execute(f"info symbol {pc}", to_string=True)
        function = re.sub(r"::h[0-9a-f]{16}", "", symbol.split(" in ")[0].split(" + ")[0])
        per_function[function] = per_function.get(function, 0) + 1
        found = MEMORY.search(operands)
        if found and "%rip" not in operands and not mnemonic.startswith(("lea", "nop", "prefetch")):
            at = (int(found.group(1) or "0", 0)
                  + (register(found.group(2)) if found.group(2) else 0)
                  + (register(found.group(3)) * int(found.group(4) or 1) if found.group(3) else 0))
            at &= 2**64 - 1
            size = width(mnemonic, operands)
            parts = [p.strip() for p in re.split(r",(?![^()]*\))", operands)]
            writes = "(" in parts[-1] and not mnemonic.startswith(("cmp", "test", "vcmp", "bt"))
            reads = any("(" in p for p in parts[:-1]) or not writes
            if mnemonic.startswith("push"):
                writes, reads = True, False
            if reads:
                for step, start, length, store_text in reversed(stores):
                    if start < at + size and at < start + length:
                        if not (start <= at and at + size <= start + length):
                            blocked.append((steps - step, function, text, store_text))
                        break
            if writes:
                stores = (stores + [(steps, at, size, text)])[-WINDOW:]
        gdb.execute("stepi", to_string=True)
        steps += 1
    print(f"{steps} instructions in one call of {ENTRY}")
    for function, count in sorted(per_function.items(), key=lambda kv: -kv[1]):
        print(f"{count:8}  {function}")
    print(f"{len(blocked)} loads that a recent store cannot forward to:")
    for distance, function, load, store in blocked:
        print(f"  {function}: {load}  ({distance} instructions after {store})")
    gdb.execute("kill")


main()
