// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_bpf: the BPF side of `make bench`. Attaches N empty BPF tracing programs
 * (fentry, or fexit) to one kernel function through the kernel's BPF trampoline, says
 * "attached N" on stdout, and holds them until it gets SIGTERM or SIGINT; then it says
 * each program's run count (counted only while /proc/sys/kernel/bpf_stats_enabled is 1)
 * and JITed size, and exits, which detaches them.
 *
 *   usage: ftramp_bpf fentry|fexit FUNCTION N
 *
 * The function is looked up by name in vmlinux's BTF, then in every module's. Each
 * program is `r0 = 0; exit` (the empty program, like ftramp's empty callbacks), so what
 * is measured is BPF's trampoline: its frame, and per program __bpf_prog_enter() /
 * __bpf_prog_exit() (RCU, migrate_disable and the per-program recursion counter) around
 * a direct call of the JITed program. No object file, no clang -target bpf: the two
 * instructions are written out here, and libbpf (Debian's libbpf-dev) does the BTF
 * lookup and the syscalls.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#define MAX_PROGS 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * Finds FUNC's BTF id: in vmlinux (*obj_fd = 0), else in a module's BTF (*obj_fd = that
 * BTF object's fd, which the program load names as attach_btf_obj_fd).
 */
static int find_func(const char *func, int *obj_fd, __u32 *btf_id)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	__u32 id = 0;
	int tid;

	if (!vmlinux) {
		fprintf(stderr, "ftramp_bpf: no vmlinux BTF: %s\n", strerror(errno));
		return -1;
	}
	tid = btf__find_by_name_kind(vmlinux, func, BTF_KIND_FUNC);
	if (tid > 0) {
		*obj_fd = 0;
		*btf_id = tid;
		btf__free(vmlinux);
		return 0;
	}
	while (!bpf_btf_get_next_id(id, &id)) {
		struct bpf_btf_info info = {};
		__u32 len = sizeof(info);
		char name[64] = "";
		struct btf *mod;
		int fd;

		fd = bpf_btf_get_fd_by_id(id);
		if (fd < 0)
			continue;
		info.name = (__u64)(unsigned long)name;
		info.name_len = sizeof(name);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.kernel_btf ||
		    !strcmp(name, "vmlinux")) {
			close(fd);
			continue;
		}
		mod = btf__load_from_kernel_by_id_split(id, vmlinux);
		tid = mod ? btf__find_by_name_kind(mod, func, BTF_KIND_FUNC) : -1;
		btf__free(mod);
		if (tid > 0) {
			*obj_fd = fd;
			*btf_id = tid;
			btf__free(vmlinux);
			return 0;
		}
		close(fd);
	}
	btf__free(vmlinux);
	fprintf(stderr, "ftramp_bpf: %s: no BTF FUNC in vmlinux or any module\n", func);
	return -1;
}

/* Returns the program's fd; the link's fd stays open (and the program attached). */
static int load_and_attach(enum bpf_attach_type type, int obj_fd, __u32 btf_id)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static char log[4096];
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = type,
		    .attach_btf_id = btf_id,
		    .attach_btf_obj_fd = obj_fd,
		    .log_buf = log,
		    .log_size = sizeof(log),
		    .log_level = 1);
	int prog, link;

	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ftramp_bench", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog < 0) {
		fprintf(stderr, "ftramp_bpf: program load: %s\n%s\n", strerror(errno), log);
		return -1;
	}
	link = bpf_link_create(prog, 0, type, NULL);
	if (link < 0)
		link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0) {
		fprintf(stderr, "ftramp_bpf: attach: %s\n", strerror(errno));
		close(prog);
		return -1;
	}
	return prog;
}

int main(int argc, char **argv)
{
	enum bpf_attach_type type;
	int progs[MAX_PROGS], obj_fd, i, n;
	__u32 btf_id;

	if (argc != 4 || (strcmp(argv[1], "fentry") && strcmp(argv[1], "fexit"))) {
		fprintf(stderr, "usage: ftramp_bpf fentry|fexit FUNCTION N\n");
		return 2;
	}
	type = strcmp(argv[1], "fentry") ? BPF_TRACE_FEXIT : BPF_TRACE_FENTRY;
	n = atoi(argv[3]);
	if (n < 1 || n > MAX_PROGS) {
		fprintf(stderr, "ftramp_bpf: N must be 1..%d\n", MAX_PROGS);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (find_func(argv[2], &obj_fd, &btf_id))
		return 1;
	for (i = 0; i < n; i++) {
		progs[i] = load_and_attach(type, obj_fd, btf_id);
		if (progs[i] < 0)
			return 1;
	}
	printf("attached %d %s program(s) to %s (BTF id %u%s)\n", n, argv[1], argv[2], btf_id,
	       obj_fd ? ", module BTF" : "");
	fflush(stdout);
	while (!stop)
		pause();
	for (i = 0; i < n; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(progs[i], &info, &len))
			printf("program %d: id %u, run_cnt %llu, jited %u bytes\n", i, info.id,
			       (unsigned long long)info.run_cnt, info.jited_prog_len);
	}
	return 0; /* exit closes the links: the programs detach */
}
