"""The container pod is a sandbox, on Docker and on Podman: limits are applied to every
student container, and they bite. Nothing here sends traffic anywhere: the pod has no
interface but loopback."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest
import trio

from grader.pod.copying import tar_of_files
from grader.pod.probe_bundle import probe_bundle

from .conftest import engine_backend_or_skip, engine_params, skip_without_limit

FORK_BOMB = """
import os, time
count = 0
try:
    while count < 100000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        count += 1
except OSError as error:
    print("forks", count, "stopped by", error.strerror, flush=True)
"""

MEMORY_HOG = """
hoard = []
for megabytes in range(1, 4097):
    hoard.append(bytearray(1024 * 1024))
    if megabytes % 64 == 0:
        print("allocated", megabytes, "MiB", flush=True)
"""


@pytest.mark.parametrize("archive", [
    probe_bundle,
    lambda: tar_of_files({"folder/notes.txt": b"x" * 700}),
], ids=["probe", "files"])
def test_archives_for_an_engine_end_at_their_end_of_archive_blocks(archive):
    """No zero padding after the two end blocks: Podman's put_archive fails an upload
    whose padding it has not read ("broken pipe", buildah#6573)."""
    data = archive()
    assert len(data) % 512 == 0 and data[-1024:] == bytes(1024)
    assert data[-1536:-1024] != bytes(512)
    with tarfile.open(fileobj=io.BytesIO(data)) as readable:
        assert readable.getmembers()


def test_the_probe_bundle_carries_this_pythons_bytecode_beside_its_sources():
    """So a container with the same Python version does not compile trio at every probe
    start; each compiled file sits in the __pycache__ of a source the bundle has."""
    import sys

    import trio

    with tarfile.open(fileobj=io.BytesIO(probe_bundle())) as bundle:
        names = set(bundle.getnames())
    compiled = {name for name in names if name.endswith(".pyc")}
    tag = sys.implementation.cache_tag
    for name in compiled:
        folder, _, file = name.rpartition("/__pycache__/")
        assert file.endswith(f".{tag}.pyc") and f"{folder}/{file.split('.')[0]}.py" in names
    host_copy = Path(trio.__file__).parent / "__pycache__" / f"__init__.{tag}.pyc"
    assert ("probe/trio/__pycache__/" + host_copy.name in compiled) == host_copy.exists()


async def _in_pod(backend, folder, body):
    async with backend.open_pod(str(folder), "sandbox-test") as pod:
        return await body(pod)


@pytest.fixture(params=engine_params())
def backend(request):
    return engine_backend_or_skip(request.param)


@pytest.fixture
def folder(write_submission):
    return write_submission({"bomb.py": FORK_BOMB, "hog.py": MEMORY_HOG})


def test_limits_are_applied_to_student_containers(backend, folder):
    async def body(pod):
        program = await pod.start("server", "sleep 30")
        try:
            await trio.to_thread.run_sync(program.container.reload)
            return (program.container.attrs["HostConfig"], program.container.attrs["Config"],
                    pod.run_id)
        finally:
            await program.stop(grace=0.5)

    skip_without_limit(backend, "memory")  # asked for, but not applied: see below
    host_config, config, run_id = trio.run(_in_pod, backend, folder, body)
    settings = backend.settings
    assert host_config["PidsLimit"] == settings.pids
    assert host_config["Memory"] == host_config["MemorySwap"] > 0
    assert host_config["NanoCpus"] == int(settings.cpus * 1e9)
    # Docker says ["ALL"]; Podman lists every capability it would otherwise grant.
    assert host_config["CapDrop"] and not host_config.get("CapAdd")
    assert "no-new-privileges" in host_config["SecurityOpt"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["NetworkMode"].startswith("container:")
    # Only the pod's own tmpfs volumes are mounted (the submission, the role's /tmp): no
    # path of the host.
    mounts = sorted((b.split(":")[0], b.split(":")[1]) for b in host_config["Binds"])
    assert [target for _, target in mounts] == ["/submission", "/tmp"], mounts
    assert all(not source.startswith("/") and source.startswith(run_id)
               for source, _ in mounts), mounts
    ulimits = {u["Name"].lower().removeprefix("rlimit_"): u["Soft"]
               for u in host_config["Ulimits"]}
    assert ulimits["nofile"] >= 4096
    uid = int(config["User"].split(":")[0])
    assert settings.uid_first <= uid < settings.uid_first + settings.uid_count


def _pod_facts(pod) -> dict:
    """Users, limits and mounts of a pod's server, client and probe containers, and the
    pod's ephemeral port range, as the engine reports them."""
    async def inspect(container):
        await trio.to_thread.run_sync(container.reload)
        return container.attrs

    async def body():
        server = await pod.start("server", "sleep 30")
        client = await pod.start("client", "sleep 30")
        try:
            facts = {role: await inspect(program.container)
                     for role, program in (("server", server), ("client", client))}
            facts["probe"] = await inspect(pod.probe_container)
            facts["port_range"] = (await pod.probe.call(__import__(
                "grader.probe.messages", fromlist=["Hello"]).Hello())).port_range
            return facts
        finally:
            await server.stop(grace=0.5)
            await client.stop(grace=0.5)

    return body


def test_each_pod_has_its_own_users_a_narrow_port_range_and_a_budget(backend, folder):
    """Per pod, a uid for the student's programs and another for the probe (per-uid
    kernel quotas are then the pod's own); a narrow ephemeral port range of its own;
    clients in small containers; the submission read-only for programs (issue 14)."""
    async def two_pods():
        async with backend.open_pod(str(folder), "a") as first, \
                backend.open_pod(str(folder), "b") as second:
            return await _pod_facts(first)(), await _pod_facts(second)()

    first, second = trio.run(two_pods)
    settings = backend.settings
    engine = backend.connect()
    engine.client.close()  # rootless on cgroup v1 cannot apply limits: the report says so
    users = [int(facts[role]["Config"]["User"].split(":")[0])
             for facts in (first, second) for role in ("server", "client", "probe")]
    student_a, client_a, probe_a, student_b, _, probe_b = users
    assert student_a == client_a and probe_a == student_a + 1
    assert probe_b == student_b + 1 and student_b != student_a  # 1 in 20,000 to collide
    for facts in (first, second):
        low, high = facts["port_range"]
        assert high - low + 1 < 5000 and (low, high) != (32768, 60999)
        client = facts["client"]["HostConfig"]
        if "pids" not in engine.missing_limits:
            assert client["PidsLimit"] == settings.client_pids
        if "cpu" not in engine.missing_limits:
            assert client["NanoCpus"] == int(settings.client_cpus * 1e9)
        for role in ("server", "client"):
            mounts = facts[role]["Mounts"]
            assert [m["RW"] for m in mounts if m["Destination"] == "/submission"] == [False]
    assert first["port_range"] != second["port_range"]  # 1 in 48,000 to collide


def test_the_pod_has_only_loopback_and_no_grader_files(backend, folder):
    async def body(pod):
        done = await pod.run("client", "ls /sys/class/net; ls /submission; id -u; "
                             "ls /opt/probe 2>&1; touch /etc/x /var/tmp/x /submission/x "
                             "2>&1; grep CapBnd /proc/self/status; echo end", b"", 20)
        return done, pod.student_uid

    done, uid = trio.run(_in_pod, backend, folder, body)
    lines = done.stdout.decode().split()
    assert lines[0] == "lo" and lines[1:3] == ["bomb.py", "hog.py"] and lines[3] == str(uid)
    assert "No such file" in done.stdout.decode()  # the probe's bundle is not in reach
    # Nothing writable but its own /tmp: not the image, not the submission (issue 14).
    assert done.stdout.decode().count("Read-only file system") == 3
    assert "CapBnd:\t0000000000000000" in done.stdout.decode()  # no capability at all


def test_a_fork_bomb_hits_the_pids_limit(backend, folder):
    # A small limit, so the bomb meets it long before the memory limit.
    small = type(backend)(dataclasses.replace(backend.settings, pids=64), backend.image,
                          backend.output_cap, backend.engine_url)

    async def body(pod):
        return await pod.run("server", "python3 bomb.py", b"", 60)

    done = trio.run(_in_pod, small, folder, body)
    output = done.stdout.decode()
    assert "stopped by Resource temporarily unavailable" in output, (output, done.stderr)
    assert int(output.split()[1]) < 64


def test_a_memory_hog_is_killed_at_the_memory_limit(backend, folder):
    skip_without_limit(backend, "memory")
    async def body(pod):
        return await pod.run("server", "python3 hog.py", b"", 60)

    done = trio.run(_in_pod, backend, folder, body)
    allocated = [int(line.split()[1]) for line in done.stdout.decode().splitlines()]
    assert done.exit_code not in (0, None)
    assert max(allocated, default=0) < 1024  # the limit is 512m: killed well before 1 GiB


def test_limits_the_engine_cannot_apply_are_said_in_the_report(backend, reference_submission):
    """Rootless on cgroup v1 cannot limit memory, processes or CPU: the report says so,
    and where the engine can, it says nothing."""
    from grader import grade, load_assignment, load_submission

    engine = backend.connect()
    engine.client.close()
    assignment = load_assignment("echo")
    assignment = dataclasses.replace(assignment, checks=assignment.checks[:1])
    folder = reference_submission("python")
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    assert [c.status for c in report.checks] == ["pass"]
    said = [n for n in report.notices if n.startswith("sandbox limits not applied")]
    if not engine.missing_limits:
        assert said == []
        return
    (notice,) = said
    assert "rootless" in notice and "memory" in notice and str(engine.url) in notice


TERM_NOTED = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(3)))
print("running", flush=True)
time.sleep(60)
"""


def test_sigterm_reaches_the_programs_of_a_compound_command(backend, write_submission):
    """The container's init signals the command's whole process group (Docker: tini with
    TINI_KILL_PROCESS_GROUP; Podman: catatonit -g), not only `sh -c`. The shell here
    ignores SIGTERM, so only the group's signal can reach python, and the shell lives on to
    say "after" (a shell that died of it would end the container, and kill python, before
    python's handler had printed)."""
    folder = write_submission({"term.py": TERM_NOTED})

    async def body(pod):
        program = await pod.start("server", "trap '' TERM; python3 term.py; echo after")
        with trio.fail_after(30):
            while b"running" not in (await program.output())[0]:
                await trio.sleep(0.1)
        await program.stop(grace=5)
        return program, await program.output()

    program, (stdout, _) = trio.run(_in_pod, backend, folder, body)
    assert stdout.endswith(b"got SIGTERM\nafter\n") and not program.needed_kill
