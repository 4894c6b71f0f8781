"""The deploy tests' own fixtures work: real sshd hosts (each its own user, home and host
key) and fault injection on them. (The offline wheelhouse for the hosts' system Python is
proven by every deploy that installs its venv from it, e.g. tests/deploy/test_deploy.py.)"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import subprocess
import time

import paramiko
import pytest

from deploy_support.sshfleet import SshHost


def run(client: paramiko.SSHClient, command: str, timeout: float = 30) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    code = stdout.channel.recv_exit_status()
    return code, stdout.read().decode().strip(), stderr.read().decode().strip()


def whoami(host: SshHost) -> tuple[str, str]:
    with host.connect() as client:
        code, user, _ = run(client, "id -un")
        assert code == 0
        code, home, _ = run(client, "echo $HOME")
        assert code == 0
    return user, home


def test_each_host_is_its_own_user_and_disk(ssh_fleet):
    hosts = ssh_fleet(3)
    assert [h.name for h in hosts] == ["h2", "h3", "h4"]
    assert [h.address for h in hosts] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    for host in hosts:
        assert ipaddress.ip_address(host.address) in ipaddress.ip_network("127.0.0.0/8")
        assert whoami(host) == (host.user, str(host.home))
        assert host.home.is_dir() and host.home.stat().st_uid == host.uid
        assert host.host_key_fingerprint.startswith("SHA256:")
        assert host.known_hosts_line.startswith(f"[{host.address}]:{host.port} ssh-ed25519 ")
        assert host.alive() and host.pid and host.log_path.exists()
        paramiko.Ed25519Key.from_private_key_file(str(host.client_key_path))
    assert len({h.user for h in hosts}) == len({h.home for h in hosts}) == 3
    assert len({h.host_key_fingerprint for h in hosts}) == 3
    # Growing the fleet keeps the hosts it has.
    more = ssh_fleet(5)
    assert more[:3] == hosts and [h.name for h in more[3:]] == ["h5", "h6"]
    assert ssh_fleet(2) == hosts[:2]


def test_a_host_only_lets_its_own_user_in(ssh_fleet):
    h2, h3 = ssh_fleet(2)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.get_host_keys().add(f"[{h2.address}]:{h2.port}", "ssh-ed25519",
                               paramiko.hostkeys.HostKeyEntry.from_line(h2.known_hosts_line).key)
    with client, pytest.raises(paramiko.AuthenticationException):
        client.connect(h2.address, port=h2.port, username=h3.user,
                       key_filename=str(h2.client_key_path), allow_agent=False,
                       look_for_keys=False, timeout=10)


def test_unknown_and_wrong_host_keys_are_refused(ssh_fleet):
    h2, h3 = ssh_fleet(2)
    with paramiko.SSHClient() as client:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
            client.connect(h2.address, port=h2.port, username=h2.user,
                           key_filename=str(h2.client_key_path), allow_agent=False,
                           look_for_keys=False, timeout=10)
    impostor = dataclasses.replace(h2, known_hosts_line=h3.known_hosts_line.replace(
        f"[{h3.address}]:{h3.port}", f"[{h2.address}]:{h2.port}"))
    with pytest.raises(paramiko.BadHostKeyException):
        impostor.connect()


def test_openssh_client_uses_the_fleet_known_hosts(ssh_fleet):
    (h2,) = ssh_fleet(1)
    out = subprocess.run(h2.ssh_command("id", "-un"), capture_output=True, text=True,
                         timeout=30, check=False)
    assert (out.returncode, out.stdout.strip()) == (0, h2.user), out.stderr


def test_kill_and_restart(ssh_fleet):
    host = ssh_fleet(3)[2]
    port, fingerprint = host.port, host.host_key_fingerprint
    with host.connect() as survivor:
        host.kill()
        assert not host.alive()
        with pytest.raises(paramiko.ssh_exception.NoValidConnectionsError):
            host.connect(timeout=3)
        # Killing the listener leaves the sessions alone, as on a real host.
        assert run(survivor, "echo still here")[1] == "still here"
        host.restart()
    assert host.alive() and host.port == port and host.host_key_fingerprint == fingerprint
    assert whoami(host)[0] == host.user
    # The next request for the fleet starts killed hosts again.
    host.kill()
    assert ssh_fleet(3)[2].alive()


def test_kill_sessions_drops_open_connections(ssh_fleet):
    host = ssh_fleet(2)[1]
    with host.connect() as client:
        assert run(client, "true")[0] == 0
        assert host.kill_sessions() >= 1
        deadline = time.monotonic() + 10
        while client.get_transport().is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.get_transport().is_active()
    assert host.alive() and whoami(host)[0] == host.user


def test_rotated_host_key_is_refused_until_trusted_again(ssh_fleet):
    host = ssh_fleet(4)[3]
    old = dataclasses.replace(host)
    new_fingerprint = host.rotate_host_key()
    assert new_fingerprint == host.host_key_fingerprint != old.host_key_fingerprint
    assert host.known_hosts_line != old.known_hosts_line
    with pytest.raises(paramiko.BadHostKeyException):
        old.connect()
    assert whoami(host)[0] == host.user
    assert host.known_hosts_line in host.known_hosts_path.read_text().splitlines()


def test_proxy_jump_through_a_test_host(ssh_fleet):
    jump, target = ssh_fleet(3)[:2]
    with jump.connect() as bastion:
        channel = bastion.get_transport().open_channel(
            "direct-tcpip", (target.address, target.port), ("127.0.0.1", 0))
        with target.connect(sock=channel) as client:
            assert run(client, "id -un")[1] == target.user


def test_small_disk_fills_up(ssh_fleet, small_disk):
    host = ssh_fleet(2)[1]
    disk = small_disk(host, 2)
    assert disk.stat().st_uid == host.uid
    with host.connect() as client:
        code, _, err = run(client, f"dd if=/dev/zero of={disk}/fill bs=1M count=4")
        assert code != 0 and "No space left on device" in err
        assert run(client, f"echo small > {host.home}/big-disk-still-fine")[0] == 0
    host.reset()
    assert not os.path.ismount(disk) and list(host.home.iterdir()) == []
