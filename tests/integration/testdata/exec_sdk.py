# Drives exec through docker-py (Debian's python3-docker) the ways its users
# do, and prints what came back as one JSON object; exec_sdk_test.go holds
# the answers dockerd gives. Usage: exec_sdk.py SOCKET NETWORK_MODE
import json
import socket
import sys
import time

import docker

out = {}
client = docker.DockerClient(base_url="unix://" + sys.argv[1])
api = client.api
net = sys.argv[2] or None
ct = client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode=net)


def text(b):
    return b.decode("latin-1") if isinstance(b, bytes) else b


def frames(raw):
    """Splits a multiplexed stream into {stream number: text}."""
    got, i = {}, 0
    while i + 8 <= len(raw):
        n = int.from_bytes(raw[i + 4:i + 8], "big")
        got[str(raw[i])] = got.get(str(raw[i]), "") + text(raw[i + 8:i + 8 + n])
        i += 8 + n
    return got


def read_all(sock):
    data = b""
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                return data, True
            data += b
    except socket.timeout:
        return data, False


def wait_done(exec_id):
    for _ in range(100):
        i = api.exec_inspect(exec_id)
        if not i["Running"]:
            return i
        time.sleep(0.1)
    return api.exec_inspect(exec_id)


try:
    # docker-py reads the stream from the raw socket under the HTTP
    # response's buffered reader, so output that arrives in the same read
    # as the headers is lost on the client (docker/docker-py#3332, with
    # dockerd too); a slow machine hits it. The sleep lets the client
    # finish the headers first, so the test sees what the daemon sent.
    both = ["sh", "-c", "sleep 0.5; echo out; echo err >&2"]
    r = ct.exec_run(both)
    # Two pipes: the order between them is the scheduler's.
    out["run"] = [r.exit_code, sorted(text(r.output).splitlines(True))]
    r = ct.exec_run(both, demux=True)
    out["run_demux"] = [text(r.output[0]), text(r.output[1])]
    r = ct.exec_run(both, tty=True)
    out["run_tty"] = [r.exit_code, text(r.output)]
    r = ct.exec_run(both, tty=True, stream=True)
    out["run_tty_stream"] = text(b"".join(r.output))
    r = ct.exec_run(["sh", "-c", "exit 3"])
    out["run_exit"] = r.exit_code

    # The framing follows the start request, the terminal the create request.
    e = api.exec_create(ct.id, both, tty=True)
    out["create_tty_start_plain"] = text(api.exec_start(e["Id"], tty=False))
    e = api.exec_create(ct.id, both, tty=False)
    out["create_plain_start_tty"] = text(api.exec_start(e["Id"], tty=True))

    e = api.exec_create(ct.id, ["sh", "-c", "sleep 0.5; echo hi > /tmp/detached"])
    out["detach_answer"] = text(api.exec_start(e["Id"], detach=True))
    i = wait_done(e["Id"])
    out["detach_exit"] = i["ExitCode"]
    out["detach_effect"] = text(ct.exec_run(["cat", "/tmp/detached"]).output)
    r = ct.exec_run(["sleep", "0.1"], detach=True)
    out["run_detach"] = [r.exit_code, text(r.output)]

    for tty in (False, True):
        e = api.exec_create(ct.id, ["sh", "-c", "echo sockout; echo sockerr >&2"], tty=tty)
        s = api.exec_start(e["Id"], socket=True, tty=tty)._sock
        s.settimeout(10)
        data, ended = read_all(s)
        s.close()
        out["socket_tty" if tty else "socket"] = text(data) if tty else frames(data)

    # A plain stream half-closes: the process sees the end of its input.
    e = api.exec_create(ct.id, ["cat"], stdin=True)
    s = api.exec_start(e["Id"], socket=True)._sock
    s.settimeout(10)
    s.sendall(b"hello stdin\n")
    s.shutdown(socket.SHUT_WR)
    data, ended = read_all(s)
    s.close()
    out["socket_stdin"] = [frames(data), ended, wait_done(e["Id"])["ExitCode"]]
    # A terminal has no half-close: closing the input ends the stream and
    # the process runs on.
    e = api.exec_create(ct.id, ["cat"], stdin=True, tty=True)
    s = api.exec_start(e["Id"], socket=True, tty=True)._sock
    s.settimeout(10)
    s.shutdown(socket.SHUT_WR)
    data, ended = read_all(s)
    s.close()
    out["socket_tty_stdin_closed"] = [ended, api.exec_inspect(e["Id"])["Running"]]

    r = ct.exec_run(["nosuchcmd"])
    out["missing_run"] = [r.exit_code, text(r.output)]
    e = api.exec_create(ct.id, ["nosuchcmd"])
    try:
        api.exec_start(e["Id"], detach=True)
        out["missing_detach"] = "no error"
    except docker.errors.APIError as err:
        out["missing_detach"] = [err.status_code, err.explanation]
    out["missing_detach_exit"] = api.exec_inspect(e["Id"])["ExitCode"]

    e = api.exec_create(ct.id, ["true"])
    api.exec_start(e["Id"])
    wait_done(e["Id"])
    try:
        api.exec_start(e["Id"], detach=True)
        out["again_detach"] = "no error"
    except docker.errors.APIError as err:
        out["again_detach"] = [err.status_code, err.explanation.replace(e["Id"], "ID")]
finally:
    ct.remove(force=True)
print(json.dumps(out))
