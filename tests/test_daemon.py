"""The daemon's lifecycle, through the real CLI, the real daemon process and real gRPC calls."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltlsp.server import __version__
from ltlsp.server.proto import ltlsp_pb2 as pb
from ltlsp.server.proto import ltlsp_pb2_grpc as pb_grpc


def test_generated_stubs_match_the_proto():
    done = subprocess.run([sys.executable, "-m", "ltlsp.server.proto.generate", "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_client_path_never_imports_heavy_modules():
    probe = ("import sys, ltlsp.server.cli, ltlsp.server.commands; "
             "print([m for m in ('torch', 'faiss', 'numpy', 'ltlsp.model') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_two_concurrent_calls_start_exactly_one_daemon(ltlsp):
    first, second = ltlsp.popen("status"), ltlsp.popen("status")
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    time.sleep(1.0)  # a losing daemon, if any was spawned, exits as soon as it sees the lock
    pids = ltlsp.daemon_pids()
    assert len(pids) == 1
    assert ltlsp.daemon_info()["pid"] == pids[0]


def test_runtime_dir_is_private_and_status_file_complete(ltlsp):
    ltlsp.run("status")
    assert stat.S_IMODE(ltlsp.runtime.stat().st_mode) == 0o700
    info = ltlsp.daemon_info()
    assert info["version"] == __version__
    assert info["socket"] == str(ltlsp.runtime / "ltlsp.sock")
    assert info["pid"] in ltlsp.daemon_pids()


def test_health_is_not_serving_until_the_model_is_loaded(ltlsp):
    proc = subprocess.Popen([sys.executable, "-m", "ltlsp.server.cli", "serve"], env=ltlsp.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = []
    with grpc.insecure_channel(f"unix:{ltlsp.runtime / 'ltlsp.sock'}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and health_pb2.HealthCheckResponse.SERVING not in seen:
            try:
                seen.append(stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status)
            except grpc.RpcError:
                time.sleep(0.02)
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert seen[0] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert seen[-1] == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_stops_cleanly(ltlsp):
    ltlsp.run("status")
    pid = ltlsp.daemon_info()["pid"]
    os.kill(pid, signal.SIGTERM)
    ltlsp.wait_for_daemon_exit()
    assert ltlsp.daemon_pids() == []
    assert ltlsp.daemon_info() is None
    assert not (ltlsp.runtime / "ltlsp.sock").exists()


def test_stop_command(ltlsp):
    ltlsp.run("status")
    assert "stopped" in ltlsp.run("stop").stdout
    assert ltlsp.daemon_pids() == []
    assert "not running" in ltlsp.run("stop").stdout


def test_idle_timeout_stops_the_daemon(ltlsp):
    ltlsp.env["LTLSP_IDLE_TIMEOUT"] = "2"
    ltlsp.run("status")
    assert ltlsp.daemon_pids()
    ltlsp.wait_for_daemon_exit(timeout=30)
    assert ltlsp.daemon_pids() == []


def test_second_foreground_daemon_refuses_to_start(ltlsp):
    ltlsp.run("status")
    done = ltlsp.run("serve", check=False, timeout=60)
    assert done.returncode == 3
    assert "already running" in done.stderr


def test_daemon_of_another_version_is_replaced(ltlsp):
    old = ("import sys, ltlsp.server; ltlsp.server.__version__ = '0.0.0-old'; "
           "from ltlsp.server import daemon; sys.exit(daemon.main())")
    proc = subprocess.Popen([sys.executable, "-c", old], env=ltlsp.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (ltlsp.daemon_info() or {}).get("version") != "0.0.0-old" and time.monotonic() < deadline:
        time.sleep(0.1)
    done = ltlsp.run("status", "--json")
    assert "restarting the daemon (version 0.0.0-old" in done.stderr
    assert json.loads(done.stdout)["daemon"]["version"] == __version__
    assert proc.wait(timeout=30) == 0  # the old one shut down cleanly


def test_tcp_requires_a_token(ltlsp):
    proc = subprocess.Popen([sys.executable, "-m", "ltlsp.server.cli", "serve", "--tcp", "127.0.0.1:0"],
                            env=ltlsp.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (ltlsp.daemon_info() or {}).get("tcp_address") and time.monotonic() < deadline:
            time.sleep(0.1)
        address = ltlsp.daemon_info()["tcp_address"]
        token_file = ltlsp.runtime / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        with grpc.insecure_channel(address) as channel:
            daemon = pb_grpc.DaemonStub(channel)
            for metadata in ((), (("authorization", "Bearer wrong"),)):
                with pytest.raises(grpc.RpcError) as refused:
                    daemon.GetInfo(pb.InfoRequest(), timeout=10, metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "token" in refused.value.details()
            info = daemon.GetInfo(pb.InfoRequest(), timeout=10, metadata=(("authorization", f"Bearer {token}"),))
            assert info.version == __version__
        ltlsp.env["LTLSP_ADDRESS"] = address  # the CLI over TCP reads the token file itself
        ltlsp.run("status")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_tcp_off_loopback_is_refused(ltlsp):
    done = ltlsp.run("serve", "--tcp", "0.0.0.0:7878", check=False, timeout=60)
    assert done.returncode == 2
    assert "loopback" in done.stderr
    assert ltlsp.daemon_pids() == []


def test_idle_timeout_waits_for_a_streaming_call(ltlsp, tmp_path):
    """A watch streams for as long as it likes: the daemon must not count it as idle."""
    ltlsp.env["LTLSP_IDLE_TIMEOUT"] = "2"
    log = tmp_path / "app.log"
    log.write_text("".join(f"Jan  1 00:00:{i:02} web app[1]: request {i} served\n" for i in range(30)))
    ltlsp.run("logs", "train", str(log), "--model", "idle")
    watcher = ltlsp.popen("logs", "watch", str(log), "--model", "idle", "--json")
    try:
        time.sleep(1.5)  # the watch stream is open
        pid = ltlsp.daemon_info()["pid"]
        time.sleep(8)  # well past the idle timeout
        assert watcher.poll() is None
        assert ltlsp.daemon_pids() == [pid]  # the same daemon: it never stopped and restarted
    finally:
        watcher.kill()
        watcher.wait()
