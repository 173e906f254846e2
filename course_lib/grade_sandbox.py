"""Where the grader runs a learner's function: a confined process that judges one exercise.

One *zygote* process per notebook imports the heavy libraries (torch, PyG, JAX, flax...) once,
with no learner code, in a throw-away working directory and ``$HOME``, with an environment
scrubbed to what the course needs and, on Linux where unprivileged namespaces are allowed, in
its own user, network and PID namespaces (``unshare``): no network, and no process outside it
can be seen or signalled. For each exercise it forks a *child* that

1. imports the chapter's checker and warms up JAX (still no learner code);
2. records every function and class of the checker and of the libraries it relies on;
3. confines itself: resource limits (CPU time, address space, processes, file size, open files)
   and, where the kernel has Landlock, read access only to Python and its libraries, write
   access only to the working directory, no TCP and no signals out of the sandbox;
4. rebuilds the learner's function from its source (sent by the grader, never the notebook's
   other code), runs the checker on it, verifies that nothing recorded in step 2 was replaced,
   and writes its verdict, tagged with a secret, to a pipe of its own.

The child's output streams go to ``/dev/null``: a printed "passed" is nobody's verdict. A child
that runs past its time limit, exits, or is killed by a limit gets a "failed" verdict from the
zygote, which then kills whatever the child left running. Run as a module by
:mod:`course_lib.grade`; never import this in a notebook.
"""

from __future__ import annotations

import builtins
import ctypes
import json
import marshal
import os
import resource
import secrets
import select
import signal
import struct
import sys
import time
import types

HEAVY_IMPORTS = ("numpy", "pandas", "scipy.sparse", "torch", "torch_geometric",
                 "torch_geometric.nn", "jax", "jax.numpy", "flax.linen", "optax", "jraph")
# the libraries whose functions and classes a learner's function must leave as they are
WATCHED = ("course_lib", "numpy", "jax", "jaxlib", "torch", "torch_geometric", "flax", "optax",
           "jraph", "builtins", "math", "copy", "inspect", "functools", "json", "secrets",
           "operator", "contextlib", "traceback", "linecache")
RESULT_LIMIT = 1 << 20  # bytes a child may write to its verdict pipe

DEFAULT_LIMITS = {
    "memory_gb": 6.0,     # address space added to what the libraries already map
    "cpu_s": 240,         # CPU seconds of one exercise (all threads)
    "processes": 64,      # tasks (processes and threads) added to those already running
    "file_mb": 64,        # largest file the function may write
    "open_files": 256,
}


# ---------------------------------------------------------------- the sandbox's environment

def scrubbed_env(workdir: str, threads: int = 1) -> dict[str, str]:
    """The only environment variables a graded function sees."""
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
        "HOME": os.path.join(workdir, "home"),
        "TMPDIR": os.path.join(workdir, "tmp"),
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        # four simulated CPU devices, as chapter 8's checker runs sharded_propagate under
        # shard_map (each device's own gradient) where the devices exist
        "JAX_NUM_CPU_DEVICES": "4",
    }
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def namespace_prefix() -> list[str]:
    """``unshare`` arguments giving the zygote its own user, network and PID namespaces (and a
    /proc of its own), or ``[]`` where the platform does not allow it (macOS, a kernel or an
    AppArmor policy without unprivileged user namespaces)."""
    if not sys.platform.startswith("linux"):
        return []
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--map-current-user", "--net", "--pid", "--fork", "--kill-child",
                    "--mount-proc"],
                   [unshare, "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
                    "--mount-proc"],
                   [unshare, "--map-current-user", "--net"]):
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return prefix
    return []


# ---------------------------------------------------------------- Landlock (Linux >= 5.13)

_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
                     5: (1 << 16) - 1}
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        abi = _libc().syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(int(abi), 0)


def landlock(read: list[str], write: list[str]) -> str:
    """Restrict this process (and its children) to reading ``read`` and writing ``write``,
    with no TCP and no signals out of the sandbox where the ABI has them. Returns what was
    applied, in words."""
    abi = landlock_abi()
    if abi < 1:
        return "none (no Landlock in this kernel)"
    libc = _libc()
    fs = _FS_RIGHTS_BY_ABI[min(abi, 5)]
    net = 0b11 if abi >= 4 else 0          # bind and connect on TCP
    scoped = 0b11 if abi >= 6 else 0       # abstract UNIX sockets and signals
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(ctypes.c_long(444), buf, ctypes.c_size_t(len(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return f"none (landlock_create_ruleset: {os.strerror(ctypes.get_errno())})"
    reading = _EXECUTE | _READ_FILE | _READ_DIR
    rules = [(p, reading) for p in read] + [(p, fs) for p in write] + [("/dev/null", fs)]
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rights &= fs
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        libc.syscall(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                     ctypes.c_uint32(0))
        os.close(fd)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    done = libc.syscall(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0))
    os.close(ruleset)
    if done != 0:
        return f"none (landlock_restrict_self: {os.strerror(ctypes.get_errno())})"
    extra = (", no TCP" if net else "") + (", no signals out" if scoped else "")
    return f"Landlock ABI {abi}: reads {len(read)} library folders, writes the work folder{extra}"


_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/sys", "/dev",
                "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/alternatives")


def readable_paths() -> list[str]:
    """What a graded function may read: Python, its libraries and the system's (not the rest
    of ``/etc``, not the home folders, not the course's other files). Computed in the sandbox,
    whose ``sys.path`` holds neither the grader's working directory nor ``PYTHONPATH``."""
    import course_lib

    package = os.path.dirname(os.path.realpath(course_lib.__file__))
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.executable),
             os.path.dirname(os.path.realpath(sys.executable)), package, *_SYSTEM_READ}
    paths |= {p for p in sys.path if p and os.path.isdir(p)
              and os.path.realpath(p) != os.path.dirname(package)}
    return sorted({os.path.realpath(p) for p in paths} | paths)


# ---------------------------------------------------------------- resource limits

def _tasks_of_this_user() -> int:
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


def _address_space() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def set_limits(limits: dict) -> dict:
    """Hard resource limits on this process (a learner's code cannot raise them again)."""
    applied = {}

    def limit(name, which, value):
        try:
            resource.setrlimit(which, (value, value))
            applied[name] = value
        except (ValueError, OSError):
            applied[name] = "not settable here"

    limit("cpu_seconds", resource.RLIMIT_CPU, int(limits["cpu_s"]))
    limit("file_bytes", resource.RLIMIT_FSIZE, int(limits["file_mb"] * 2**20))
    limit("open_files", resource.RLIMIT_NOFILE, int(limits["open_files"]))
    limit("core_bytes", resource.RLIMIT_CORE, 0)
    if sys.platform.startswith("linux"):
        limit("address_space_bytes", resource.RLIMIT_AS,
              _address_space() + int(limits["memory_gb"] * 2**30))
        limit("tasks", resource.RLIMIT_NPROC, _tasks_of_this_user() + int(limits["processes"]))
    else:  # macOS: RLIMIT_AS is not enforced; RLIMIT_NPROC counts the whole user
        limit("data_bytes", resource.RLIMIT_DATA, int(limits["memory_gb"] * 2**30))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails, not the process
    return applied


# ---------------------------------------------------------------- what must stay untouched

def snapshot() -> dict:
    """Every function, class and module reachable from the watched modules' namespaces, the
    methods of their classes, the registered exercises' fields and ``sys.modules``."""
    from course_lib.exercises import engine

    seen: dict = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in WATCHED:
            continue
        seen[("sys.modules", name)] = module
        for key, value in list(vars(module).items()):
            if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType
                          | types.ModuleType) or callable(value):
                seen[(name, key)] = value
            if isinstance(value, types.FunctionType):
                seen[(f"{name}.{key}", "__code__")] = _code(value)
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                if name.startswith("course_lib"):
                    seen[(f"{name}.{key}", "__keys__")] = frozenset(vars(value))
                for attr, member in list(vars(value).items()):
                    if attr != "__dict__" and not attr.startswith("__abstract"):
                        seen[(f"{name}.{key}", attr)] = member
                        if isinstance(member, types.FunctionType):
                            seen[(f"{name}.{key}.{attr}", "__code__")] = _code(member)
    for name, exercise in engine.REGISTRY.items():
        seen[(f"exercise {name}", "__keys__")] = frozenset(vars(exercise))
        for key, value in vars(exercise).items():
            seen[(f"exercise {name}", key)] = value
    return seen


def _code(fn: types.FunctionType) -> tuple:
    return (fn.__code__, fn.__defaults__, fn.__kwdefaults__, fn.__closure__)


def changed(before: dict) -> list[str]:
    """What in ``before`` was replaced or removed since (empty if nothing)."""
    from course_lib.exercises import engine

    out = []
    for (owner, key), value in before.items():
        if key == "__keys__":
            holder = (engine.REGISTRY.get(owner.removeprefix("exercise "))
                      if owner.startswith("exercise ") else _resolve(owner))
            added = set(vars(holder)) - value - _CACHES if hasattr(holder, "__dict__") else set()
            out += [f"{owner}.{k} (added)" for k in sorted(added)]
            continue
        if key == "__code__":
            holder = _resolve(owner)
            if isinstance(holder, types.FunctionType) and _code(holder) != value:
                out.append(f"{owner} (its code)")
            continue
        if owner == "sys.modules":
            now = sys.modules.get(key)
        elif owner.startswith("exercise "):
            ex = engine.REGISTRY.get(owner.removeprefix("exercise "))
            now = vars(ex).get(key, _MISSING) if ex is not None else _MISSING
        else:
            module = sys.modules.get(owner)
            if module is not None:
                now = vars(module).get(key, _MISSING)
            else:
                parent, _, cls = owner.rpartition(".")
                holder = vars(sys.modules[parent]).get(cls) if parent in sys.modules else None
                now = vars(holder).get(key, _MISSING) if isinstance(holder, type) else _MISSING
        if now is not value:
            out.append(key if owner == "sys.modules" else f"{owner}.{key}")
    return out


_MISSING = object()
_CACHES = {"__slotnames__"}  # what Python adds to a class by itself (copyreg, on a deepcopy)


def _resolve(dotted: str):
    """The object at ``module.attr[.attr]`` as it is now (None if gone)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            obj = module
            for attr in parts[cut:]:
                obj = vars(obj).get(attr) if hasattr(obj, "__dict__") else None
                if obj is None:
                    return None
            return obj
    return None


# ---------------------------------------------------------------- the interpreter guard

GUARDED_EVENTS = ("sys._getframe", "sys._current_frames", "object.__getattr__",
                  "object.__setattr__", "object.__delattr__", "gc.get_objects",
                  "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile",
                  "sys.addaudithook", "code.__new__", "function.__new__", "cpython.",
                  "ctypes.", "sys._debugmallocstats")


FRAME_ATTRIBUTES = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals",
                    "f_globals")


def install_guard(blocked: list) -> None:
    """An audit hook (PEP 578; it cannot be removed) that refuses, to the learner's code, what
    would let it read the checker's frames or memory: frames (``sys._getframe``, a traceback's
    ``tb_frame``...), the garbage collector's object lists, ``ctypes``, tracing, new code
    objects, replacing a class's or a function's attributes. "The learner's code" is code
    compiled from a string (the rebuilt function, and anything it ``exec`` s), and ``inspect``
    or ``traceback`` called by such code. Each refusal is recorded in ``blocked``; the exercise
    then fails."""
    import inspect as _inspect
    import traceback as _traceback

    proxies = {_inspect.__file__, _traceback.__file__}
    getframe, busy = sys._getframe, [False]
    trusted = set()  # the code running now (the sandbox's own "<string>" start-up included)
    frame = getframe()
    while frame is not None:
        trusted.add(frame.f_code)
        frame = frame.f_back

    def learner_code(frame) -> bool:
        name = frame.f_code.co_filename
        return (name.startswith("<") and not name.startswith("<frozen")
                and frame.f_code not in trusted)

    def hook(event: str, args: tuple) -> None:
        if busy[0] or not event.startswith(GUARDED_EVENTS):
            return
        frames = (event in ("sys._getframe", "sys._current_frames")
                  or (event == "object.__getattr__" and len(args) > 1
                      and args[1] in FRAME_ATTRIBUTES))
        if event == "object.__getattr__" and not frames:
            return  # reading __code__ and the like reveals nothing of the checker
        busy[0] = True
        try:
            frame = getframe(1)
            refuse = learner_code(frame)
            if not refuse and frames and frame.f_code.co_filename in proxies:
                # inspect or traceback on behalf of whoever called them
                outer = frame.f_back
                while outer is not None and outer.f_code.co_filename in proxies:
                    outer = outer.f_back
                refuse = outer is not None and learner_code(outer)
        finally:
            busy[0] = False
        if refuse:
            detail = f" ({args[1]})" if event.startswith("object.") and len(args) > 1 else ""
            blocked.append(event + detail)
            raise RuntimeError(f"the grader does not let a graded function use {event}"
                               f"{detail}")

    sys.addaudithook(hook)


def _after_call_check(critical: dict, found: list, changed=changed):
    """What :func:`~course_lib.exercises.sandbox.learner_call` runs after each call of the
    learner's code: a patch of the checker installed during the call (even one that would
    restore itself later) is seen before the checker uses it."""

    def check() -> None:
        found.extend(changed(critical))

    return check


# ---------------------------------------------------------------- the child: one exercise

def _child(task: dict, job: dict, write_fd: int) -> None:
    """Runs in the forked child; never returns."""
    nonce = task["nonce"]
    timing = {"fork": time.monotonic()}

    # C functions taken before any learner code runs (a learner can replace the modules'
    # attributes, not these objects): the verdict is a marshalled dict behind its length
    write, dumps, pack = os.write, marshal.dumps, struct.pack

    def send(status: str, message: str, **extra) -> None:
        blob = dumps({"nonce": nonce, "status": status, "message": message, **extra})
        write(write_fd, pack("<Q", len(blob)) + blob)

    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        # nothing of the zygote's (its channel to the grader above all) stays open here
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, 65536)
        os.setpgid(0, 0)
        import importlib
        import linecache

        importlib.import_module(f"course_lib.exercises.{job['chapter']}")
        from course_lib.exercises import engine

        exercise = engine.REGISTRY[task["exercise"]]
        references = {id(ex.reference): ex.reference_path for ex in engine.REGISTRY.values()}
        if exercise.framework == "jax" or "jax" in sys.modules:
            import jax.numpy as jnp

            jnp.zeros(1).block_until_ready()  # the backend starts before the limits apply
        run = exercise.run
        try:  # the reference once, so that what libraries set up lazily is in place (PyG
            # completes a MessagePassing class on its first instance) before the snapshot
            case = exercise.cases()[0]
            exercise._run_reference(exercise._prepare(exercise._positional(case)))
        except Exception:  # noqa: BLE001 - the check itself will say what is wrong
            pass
        timing["setup"] = time.monotonic()
        before = snapshot()
        builtin_names = vars(builtins)
        saved_builtins = dict(builtin_names)
        timing["snapshot"] = time.monotonic()
        confinement = {"limits": set_limits(job["limits"])}
        confinement["landlock"] = landlock(readable_paths(), [job["workdir"]])
        try:
            import ctypes as _c

            _c.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/mem
        except (OSError, AttributeError):
            pass
    except BaseException as e:  # noqa: BLE001 - the sandbox itself failed: say so
        send("error", f"the grading sandbox could not start: {type(e).__name__}: {e}")
        os._exit(0)

    flags: list[str] = []
    blocked: list[str] = []
    tampered: list[str] = []  # found right after a call of the learner's function
    try:
        install_guard(blocked)
        from course_lib.exercises import sandbox as exercise_sandbox

        critical = {k: v for k, v in before.items()
                    if k[0].startswith(("course_lib.exercises", "course_lib.grade_sandbox",
                                        "exercise ", "sys.modules"))
                    and (k[0] != "sys.modules" or k[1].startswith("course_lib"))}
        exercise_sandbox.AFTER_CALL.append(_after_call_check(critical, tampered))
        source, filename = task["source"], task["filename"]
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType("__learner__")
        module.__dict__["__builtins__"] = builtins
        sys.modules["__learner__"] = module
        code = compile(source, filename, "exec")
        try:
            exec(code, module.__dict__)  # noqa: S102 - the learner's function, confined
            answer = module.__dict__[task["target"]]
        except BaseException as e:  # noqa: BLE001
            problem = f"{type(e).__name__}: {e}"
            if isinstance(e, NameError) and task.get("unresolved"):
                problem += (f" (the grader rebuilds your function from its source and the "
                            f"functions, classes, constants and imports it uses; "
                            f"{', '.join(task['unresolved'])} come from other code of the "
                            f"notebook, which it does not run: define them in the function)")
            send("failed", f"{task['exercise']}: defining your function failed: {problem}")
            os._exit(0)
        used = [v for v in module.__dict__.values() if id(v) in references]
        flags += [f"uses the course's reference solution {references[id(v)]}" for v in used]
        timing["defined"] = time.monotonic()
        result = run(answer, seed=task.get("seed"))
        timing["run"] = time.monotonic()
        status, message = result.status, result.message
        cases_run, seed = result.cases_run, result.seed
    except SystemExit:
        status, message, cases_run, seed = ("failed", "your function tried to end the grading "
                                            "process (exit or SystemExit)", 0, task.get("seed"))
    except BaseException as e:  # noqa: BLE001
        status, message = "failed", (f"the checker could not run your function: "
                                     f"{type(e).__name__}: {str(e)[:300]}")
        cases_run, seed = 0, task.get("seed")
    # builtins first, with dict operations only (a replaced len or isinstance would mislead
    # the comparison below), then put back for it
    replaced_builtins = [f"builtins.{k}" for k, v in saved_builtins.items()
                         if builtin_names.get(k, _MISSING) is not v]
    builtin_names.clear()
    builtin_names.update(saved_builtins)
    try:
        replaced = replaced_builtins + [r for r in changed(before)
                                        if not r.startswith("builtins.")]
        replaced += [r for r in dict.fromkeys(tampered) if r not in replaced]
    except BaseException as e:  # noqa: BLE001
        replaced = [f"(the check itself failed: {type(e).__name__})"]
    if blocked:
        shown = ", ".join(sorted(set(blocked)))
        status = "failed"
        message = (f"your function tried to reach into the grader ({shown}), which it refused; "
                   "a graded function needs only its arguments")
        flags.append(f"tried to inspect the interpreter: {shown}")
    if replaced:
        shown = ", ".join(replaced[:12]) + (f" and {len(replaced) - 12} more"
                                              if len(replaced) > 12 else "")
        status = "failed"
        message = (f"your function replaced parts of the checker or of the libraries it "
                   f"relies on ({shown}); a verdict reached that way does not count")
        flags.append(f"replaced library or checker objects: {shown}")
    timing["changed"] = time.monotonic()
    send(status, message, seed=seed, cases_run=cases_run, flags=flags,
         sandbox=confinement, timing=timing)
    os._exit(0)


# ---------------------------------------------------------------- the zygote

def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        why = {"SIGKILL": " (a memory, process or time limit?)",
               "SIGXCPU": " (the CPU-time limit)", "SIGSEGV": " (a crash)"}.get(str(name), "")
        return f"the grading process was killed by {name}{why}"
    return f"the grading process ended (exit status {os.WEXITSTATUS(status)})"


def _reap_strays() -> None:
    """Kill whatever a child left behind (we are PID 1 of our namespace when there is one)."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break


def _start(task: dict, job: dict) -> dict:
    """Fork the child that judges ``task``; the zygote's record of it."""
    task["nonce"] = secrets.token_hex(16)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _child(task, job, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    return {"task": task, "pid": pid, "fd": read_fd, "chunks": [], "size": 0,
            "deadline": time.monotonic() + job["timeout"], "timed_out": False}


def _verdict(run: dict, job: dict) -> dict:
    """Stop the child (and what it started) and read its verdict."""
    os.close(run["fd"])
    pid, task = run["pid"], run["task"]
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    if pid in _EXITED:
        status = _EXITED.pop(pid)
    else:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = _EXITED.pop(pid, 0)
    if run.get("forked"):
        return {"status": "failed", "message": f"your function started more than "
                f"{job['limits']['processes']} processes (a fork bomb?); the grader stopped "
                "them all", "flags": ["started processes"]}
    if run["timed_out"]:
        return {"status": "failed", "message": f"your function did not finish within "
                f"{job['timeout'] - job.get('setup', 0):g} s (an endless loop, or too slow "
                "for the small cases?); the grader stopped it"}
    data = b"".join(run["chunks"])
    verdict = None
    if len(data) >= 8:
        (size,) = struct.unpack("<Q", data[:8])
        if len(data) == 8 + size:
            try:
                verdict = marshal.loads(data[8:])
            except (ValueError, EOFError, TypeError):
                verdict = None
    if not isinstance(verdict, dict) or verdict.get("nonce") != task["nonce"] or not all(
            isinstance(verdict.get(k), str) for k in ("status", "message")) or verdict[
            "status"] not in ("passed", "failed", "not attempted", "error"):
        if not data:
            return {"status": "failed", "message": _describe_exit(status) + " before the "
                    "checker gave a verdict (did your function exit, exhaust memory or start "
                    "processes?)"}
        return {"status": "failed", "flags": ["wrote to the grader's verdict channel"],
                "message": "something other than the checker wrote to the grader's verdict "
                           "channel; the exercise counts as failed"}
    verdict = json.loads(json.dumps(verdict))  # plain JSON types only from here on
    verdict.pop("nonce")
    if verdict["status"] == "error":
        raise RuntimeError(verdict["message"])
    return verdict


def _group_sizes() -> dict[int, int]:
    """``{process group: number of processes}`` of the processes this one can see."""
    sizes: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2:
            sizes[int(fields[2])] = sizes.get(int(fields[2]), 0) + 1
    return sizes


_EXITED: dict[int, int] = {}  # exit statuses of our children, reaped early


def _reap() -> None:
    """Reap every finished child (as PID 1 we inherit what a child's children leave)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _EXITED[pid] = status


def _complete(run: dict) -> bool:
    data = b"".join(run["chunks"])
    return len(data) >= 8 and len(data) >= 8 + struct.unpack("<Q", data[:8])[0]


def _judge_all(job: dict, report) -> None:
    """Judge every task, ``job["parallel"]`` children at a time; ``report(task, verdict)``.
    A watchdog counts each child's processes (a fork bomb is stopped even where the process
    limit does not apply, as for root)."""
    waiting, running = list(job["tasks"]), []
    watch = os.path.isdir("/proc")
    most = int(job["limits"]["processes"])
    while waiting or running:
        while waiting and len(running) < max(1, job.get("parallel", 1)):
            task = waiting.pop(0)
            try:
                running.append(_start(task, job))
            except OSError as e:
                report(task, {"status": "failed", "message": f"the sandbox could not start "
                              f"a process for this exercise ({e.strerror}); grade it again"})
        if not running:
            continue
        now = time.monotonic()
        left = min(r["deadline"] for r in running) - now
        ready, _, _ = select.select([r["fd"] for r in running], [], [],
                                    min(max(left, 0), 0.25 if watch else left))
        now = time.monotonic()
        _reap()
        sizes = _group_sizes() if watch else {}
        for r in list(running):
            done = False
            if r["fd"] in ready:
                data = os.read(r["fd"], 65536)
                r["chunks"].append(data)
                r["size"] += len(data)
                done = not data or r["size"] > RESULT_LIMIT or _complete(r)
            if not done and sizes.get(r["pid"], 0) > most:
                r["forked"] = done = True
            if not done and now >= r["deadline"]:
                r["timed_out"] = done = True
            if done:
                running.remove(r)
                try:
                    verdict = _verdict(r, job)
                except Exception as e:  # noqa: BLE001
                    verdict = {"status": "error", "message": str(e)}
                report(r["task"], verdict)
    _reap_strays()


def zygote() -> None:
    """Read one job (JSON) on stdin, answer one JSON line per task on stdout."""
    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    import importlib

    for name in HEAVY_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the chapter's checker says what is missing
            pass
    importlib.import_module("course_lib.exercises.engine")
    for fd in (1, 2):
        os.dup2(devnull, fd)
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()

    def report(task, verdict):
        out.write(json.dumps({"exercise": task["exercise"], **verdict}) + "\n")
        out.flush()

    _judge_all(job, report)
    out.close()
    os._exit(0)


if __name__ == "__main__":
    zygote()
