# SPDX-License-Identifier: GPL-2.0
"""Checks of generated code read back from the kernel, shared by the tests' embedded
Python (ftramp_hardened.sh): where a branch goes, and whether a return is what the kernel's
own code would be at that address."""


def branch_dest(code, at, off):
    """Target of the 5-byte call/jmp at code[off], the code being placed at `at`."""
    rel = int.from_bytes(code[off + 1:off + 5], "little", signed=True)
    return (at + off + 5 + rel) & (2**64 - 1)


def return_problem(code, at, off, thunk, placeholder, its):
    """What is wrong with the return at code[off], or None: it must be `jmp thunk` (the
    return thunk the kernel chose at boot, never the placeholder __x86_return_thunk, and
    its_return_thunk only from a cache line's lower half, cpu_wants_rethunk_at()'s rule) or,
    where the kernel returns without a thunk there, `ret; int3`."""
    if code[off] == 0xe9:
        d = branch_dest(code, at, off)
        if d == placeholder:
            return f"returns through the placeholder __x86_return_thunk ({d:x})"
        if d != thunk:
            return f"returns through {d:x}, the kernel's return thunk is {thunk:x}"
        if thunk == its and (at + off) & 0x20:
            return ("jmp to its_return_thunk from the upper half of a cache line "
                    "(cpu_wants_rethunk_at says ret)")
        return None
    if code[off:off + 2] == b"\xc3\xcc":
        if thunk and not (thunk == its and (at + off) & 0x20):
            return f"plain ret, but the kernel returns through {thunk:x}"
        return None
    return f"no return at +{off}"
