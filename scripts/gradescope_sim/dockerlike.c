/*
 * dockerlike: run a command in a root filesystem under the conditions a process meets in a
 * default `docker run` container (which is what Gradescope's autograder runs in), so the kit's
 * Gradescope path can be tested without Docker or Gradescope.
 *
 *   dockerlike [options] ROOTFS [--] COMMAND [ARG...]
 *
 * What it reproduces, and how:
 *   - uid 0, the Docker default capability set in the bounding, effective and permitted sets
 *     (CapEff 00000000a80425fb, as `grep Cap /proc/self/status` shows in a default container),
 *     empty inheritable and ambient sets (Docker >= 20.10.14); no CAP_SYS_ADMIN;
 *   - the namespace part of Docker's default seccomp profile: unshare, setns, mount and the new
 *     mount API, pivot_root, bpf, perf_event_open, keyctl, userfaultfd, io_uring fail with EPERM,
 *     clone with any CLONE_NEW* flag fails with EPERM, clone3 fails with ENOSYS (so glibc falls
 *     back to clone). Consequence: no user namespace and no other namespace can be created, which
 *     is why bubblewrap fails inside Gradescope's container;
 *   - its own mount, pid, uts and ipc namespaces (the caller runs it under `unshare` or it creates
 *     them itself), a fresh /proc, sysfs read-only, a small /dev with devpts and a 64 MB /dev/shm
 *     (Docker's default --shm-size), pivot_root into ROOTFS, hostname "gradescope-sim";
 *   - the network namespace is the host's (Docker's bridge would also give network access);
 *   - a clean environment: PATH, HOME=/root, HOSTNAME, LANG unset, plus --env NAME=VALUE.
 * Landlock stays allowed (it is in Docker's current default profile); --deny-landlock makes the
 * three landlock syscalls fail with EPERM, like older Docker releases whose profile predates them.
 *
 * Options:
 *   --bind SRC:DST[:ro]  bind-mount a host path into the root filesystem before pivot_root
 *   --env NAME=VALUE     add to the clean environment (repeatable)
 *   --workdir DIR        working directory inside (default /)
 *   --deny-landlock      see above
 *   --shm-size BYTES     size of /dev/shm (default 67108864)
 *
 * Build: gcc -O2 -static -o dockerlike dockerlike.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "dockerlike: " __VA_ARGS__); fprintf(stderr, ": %s\n", strerror(errno)); exit(125); } while (0)

/* Docker's default capabilities (moby oci/caps/defaults.go). */
static const int docker_caps[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
    CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
    CAP_AUDIT_WRITE,
};

static int is_docker_cap(int cap) {
    for (size_t i = 0; i < sizeof docker_caps / sizeof *docker_caps; i++)
        if (docker_caps[i] == cap) return 1;
    return 0;
}

#ifndef __x86_64__
#error "dockerlike: only x86_64 syscall numbers are written down"
#endif

/* x86_64 numbers, so the filter does not depend on the build host's headers knowing them. */
static const int deny_eperm[] = {
    272 /* unshare */, 308 /* setns */, 165 /* mount */, 166 /* umount2 */, 155 /* pivot_root */,
    428 /* open_tree */, 429 /* move_mount */, 430 /* fsopen */, 431 /* fsconfig */,
    432 /* fsmount */, 433 /* fspick */, 442 /* mount_setattr */, 321 /* bpf */,
    298 /* perf_event_open */, 248 /* add_key */, 249 /* request_key */, 250 /* keyctl */,
    323 /* userfaultfd */, 425 /* io_uring_setup */, 426 /* io_uring_enter */,
    427 /* io_uring_register */, 170 /* sethostname */, 171 /* setdomainname */, 103 /* syslog */,
    179 /* quotactl */, 139 /* sysfs */, 163 /* acct */, 169 /* reboot */, 246 /* kexec_load */,
    320 /* kexec_file_load */, 175 /* init_module */, 313 /* finit_module */,
    176 /* delete_module */,
};
static const int landlock_nrs[] = {444, 445, 446};
#define NR_CLONE 56
#define NR_CLONE3 435
#define CLONE_NS_MASK 0x7E020000u /* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET */

static struct sock_filter prog[256];
static unsigned short prog_len;

static void emit(struct sock_filter insn) {
    if (prog_len >= sizeof prog / sizeof *prog) { fprintf(stderr, "dockerlike: filter too long\n"); exit(125); }
    prog[prog_len++] = insn;
}

static void deny_nr(int nr, int err) {
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)));
}

static void install_seccomp(int deny_landlock) {
    /* other ABIs (i386 via int 0x80, x32) are refused outright: stricter than Docker, never looser */
    emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    for (size_t i = 0; i < sizeof deny_eperm / sizeof *deny_eperm; i++)
        deny_nr(deny_eperm[i], EPERM);
    if (deny_landlock)
        for (size_t i = 0; i < 3; i++) deny_nr(landlock_nrs[i], EPERM);
    deny_nr(NR_CLONE3, ENOSYS);
    /* clone: allowed unless a namespace flag is set (x86_64: flags are argument 0) */
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE, 1, 0));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_MASK, 0, 1));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    struct sock_fprog fprog = {.len = prog_len, .filter = prog};
    /* without no_new_privs: allowed because we still hold CAP_SYS_ADMIN (Docker does the same) */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) DIE("seccomp");
}

static void drop_caps(void) {
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
    if (f) { if (fscanf(f, "%d", &last) != 1) last = 40; fclose(f); }
    for (int cap = 0; cap <= last; cap++)
        if (!is_docker_cap(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            DIE("PR_CAPBSET_DROP %d", cap);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static void set_caps(void) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (size_t i = 0; i < sizeof docker_caps / sizeof *docker_caps; i++) {
        int cap = docker_caps[i];
        data[cap / 32].effective |= 1u << (cap % 32);
        data[cap / 32].permitted |= 1u << (cap % 32);
    }
    if (syscall(SYS_capset, &header, data) != 0) DIE("capset");
}

static void mkpath(const char *root, const char *rel, mode_t mode, char *out, size_t n) {
    snprintf(out, n, "%s%s", root, rel);
    mkdir(out, mode);
}

static void setup_dev(const char *root, unsigned long shm_size) {
    char p[4096], opts[128];
    mkpath(root, "/dev", 0755, p, sizeof p);
    if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0) DIE("mount /dev");
    struct { const char *name; int major, minor; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        snprintf(p, sizeof p, "%s/dev/%s", root, nodes[i].name);
        if (mknod(p, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0) DIE("mknod %s", p);
        chmod(p, 0666);
    }
    mkpath(root, "/dev/pts", 0755, p, sizeof p);
    if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0) DIE("mount devpts");
    snprintf(p, sizeof p, "%s/dev/ptmx", root); symlink("pts/ptmx", p);
    mkpath(root, "/dev/shm", 01777, p, sizeof p);
    snprintf(opts, sizeof opts, "mode=1777,size=%lu", shm_size);
    if (mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0) DIE("mount /dev/shm");
    mkpath(root, "/dev/mqueue", 0755, p, sizeof p);
    snprintf(p, sizeof p, "%s/dev/fd", root); symlink("/proc/self/fd", p);
    snprintf(p, sizeof p, "%s/dev/stdin", root); symlink("/proc/self/fd/0", p);
    snprintf(p, sizeof p, "%s/dev/stdout", root); symlink("/proc/self/fd/1", p);
    snprintf(p, sizeof p, "%s/dev/stderr", root); symlink("/proc/self/fd/2", p);
}

int main(int argc, char **argv) {
    const char *binds[32]; int nbinds = 0;
    char *env[64]; int nenv = 0;
    const char *workdir = "/";
    int deny_landlock = 0;
    unsigned long shm_size = 64UL << 20;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i++) {
        if (!strcmp(argv[i], "--bind") && i + 1 < argc && nbinds < 32) binds[nbinds++] = argv[++i];
        else if (!strcmp(argv[i], "--env") && i + 1 < argc && nenv < 56) env[nenv++] = argv[++i];
        else if (!strcmp(argv[i], "--workdir") && i + 1 < argc) workdir = argv[++i];
        else if (!strcmp(argv[i], "--shm-size") && i + 1 < argc) shm_size = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--deny-landlock")) deny_landlock = 1;
        else { fprintf(stderr, "dockerlike: unknown option %s\n", argv[i]); return 125; }
    }
    if (i >= argc) { fprintf(stderr, "usage: dockerlike [options] ROOTFS [--] COMMAND [ARG...]\n"); return 125; }
    const char *root = argv[i++];
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc) { fprintf(stderr, "dockerlike: no command\n"); return 125; }
    char **cmd = &argv[i];

    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0) DIE("unshare");
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child > 0) {
        /* the container's pid 1 gets Ctrl-C from the terminal itself; the exit status is passed on */
        int status;
        signal(SIGINT, SIG_IGN);
        while (waitpid(child, &status, 0) < 0) if (errno != EINTR) DIE("waitpid");
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
    }
    /* pid 1 of the new pid namespace */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) DIE("make / private");
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) != 0) DIE("bind %s", root);
    char p[4096];
    for (int b = 0; b < nbinds; b++) {
        char spec[4096]; snprintf(spec, sizeof spec, "%s", binds[b]);
        char *dst = strchr(spec, ':');
        if (!dst) { fprintf(stderr, "dockerlike: --bind SRC:DST[:ro]\n"); return 125; }
        *dst++ = 0;
        char *ro = strchr(dst, ':');
        if (ro) *ro++ = 0;
        snprintf(p, sizeof p, "%s%s", root, dst);
        struct stat st;
        if (stat(spec, &st) != 0) DIE("bind source %s", spec);
        if (S_ISDIR(st.st_mode)) mkdir(p, 0755);
        else { int fd = open(p, O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }
        if (mount(spec, p, NULL, MS_BIND | MS_REC, NULL) != 0) DIE("bind %s -> %s", spec, p);
        if (ro && !strcmp(ro, "ro") && mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) != 0)
            DIE("remount ro %s", p);
    }
    mkpath(root, "/proc", 0555, p, sizeof p);
    if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) DIE("mount proc");
    mkpath(root, "/sys", 0555, p, sizeof p);
    if (mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) DIE("mount sysfs");
    setup_dev(root, shm_size);
    if (chdir(root) != 0) DIE("chdir %s", root);
    if (syscall(SYS_pivot_root, ".", ".") != 0) DIE("pivot_root");
    if (umount2(".", MNT_DETACH) != 0) DIE("detach old root");
    if (chdir("/") != 0) DIE("chdir /");
    if (sethostname("gradescope-sim", 14) != 0) DIE("sethostname");

    drop_caps();
    install_seccomp(deny_landlock);
    set_caps();
    if (chdir(workdir) != 0) DIE("chdir %s", workdir);

    env[nenv++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    env[nenv++] = "HOME=/root";
    env[nenv++] = "HOSTNAME=gradescope-sim";
    env[nenv] = NULL;
    execvpe(cmd[0], cmd, env);
    DIE("exec %s", cmd[0]);
}
