/*
 * A QEMU TCG plugin that counts the guest's instructions and writes the
 * count each time the guest reaches one of the addresses it was given.
 *
 * Why: under `-icount`, QEMU's virtual clock is an instruction count only
 * while the CPU runs. An embassy executor idles in WFE, and QEMU warps the
 * virtual clock over each idle stretch, so the firmware's own timestamps
 * are not instruction counts there. This plugin counts what was executed.
 *
 *   cc -shared -fPIC -O2 -o qemu-insn-count.so scripts/qemu-insn-count.c
 *   qemu-system-arm ... -plugin ./qemu-insn-count.so,out=counts.txt,mark=0x1a2b,mark=0x3c4d
 *
 * Each `mark=ADDR` is the address of an instruction (a function's symbol
 * address; the Thumb bit is ignored). Every time the guest executes it, a
 * line `mark 0xADDR N` goes to `out` (N: instructions executed since reset,
 * counted a translation block at a time: at most one block's instructions
 * more than exact). At QEMU's orderly exit: `total N`.
 *
 * Written against the plugin API of QEMU 7.2 (API version 1; Debian
 * bookworm's qemu-system-arm is built with plugin support but ships no
 * plugins and no header). The few declarations it needs are below.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- the plugin API, as far as used ---- */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef void (*tb_trans_cb)(uint64_t id, struct qemu_plugin_tb *tb);
typedef void (*insn_exec_cb)(unsigned int vcpu, void *userdata);
typedef void (*atexit_cb)(uint64_t id, void *userdata);
enum { INLINE_ADD_U64 = 0 };
enum { CB_NO_REGS = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(uint64_t id, tb_trans_cb cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t i);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, int op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, insn_exec_cb cb,
                                            int flags, void *userdata);
void qemu_plugin_register_atexit_cb(uint64_t id, atexit_cb cb, void *userdata);

EXPORT int qemu_plugin_version = 1;

/* ---- the counter ---- */
#define MAX_MARKS 8

static uint64_t executed; /* one vCPU: the inline add needs no atomics */
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static FILE *out;

static void on_mark(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    fprintf(out, "mark 0x%llx %llu\n", (unsigned long long)(uintptr_t)userdata,
            (unsigned long long)executed);
    fflush(out);
}

static void on_translate(uint64_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, INLINE_ADD_U64, &executed, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t at = qemu_plugin_insn_vaddr(insn);
        for (size_t m = 0; m < n_marks; m++) {
            if (marks[m] == at) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, CB_NO_REGS,
                                                       (void *)(uintptr_t)at);
            }
        }
    }
}

static void on_exit_(uint64_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(out, "total %llu\n", (unsigned long long)executed);
    fflush(out);
}

EXPORT int qemu_plugin_install(uint64_t id, const void *info, int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "mark=", 5) == 0 && n_marks < MAX_MARKS) {
            char *end;
            unsigned long long at = strtoull(argv[i] + 5, &end, 0);
            if (*end != '\0') {
                fprintf(stderr, "qemu-insn-count: not an address: %s\n", argv[i]);
                return -1;
            }
            marks[n_marks++] = at & ~1ULL; /* the Thumb bit */
        } else {
            fprintf(stderr, "qemu-insn-count: unknown or one too many: %s\n", argv[i]);
            return -1;
        }
    }
    out = path ? fopen(path, "w") : stderr;
    if (!out) {
        perror("qemu-insn-count: out");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}
