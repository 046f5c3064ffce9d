"""A real ``airflow api-server`` for the tests, started once per test process.

It shares the tests' throwaway AIRFLOW_HOME (and so the SQLite metadata DB that ``dag.test()`` reads),
listens on a free loopback port, and authenticates with Airflow's SimpleAuthManager: one admin user
whose password is in a passwords file, exchanged for a JWT at ``POST /auth/token``, exactly as a user's
``airflow_api`` connection would. The session fixture ``airflow_api`` (tests/conftest.py) starts it once.
"""

from __future__ import annotations

import atexit
import configparser
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

USERNAME = "stitch_provisioner"
STARTUP_TIMEOUT = 120.0


@dataclass
class AirflowApiServer:
    base_url: str
    username: str
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def connection_uri(self) -> str:
        """JSON for ``AIRFLOW_CONN_AIRFLOW_API``: how a user points the operators at this API."""
        return json.dumps(
            {"conn_type": "http", "host": self.base_url, "login": self.username, "password": self.password}
        )

    def token(self) -> str:
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def get_connection(self, connection_id: str) -> requests.Response:
        return requests.get(
            f"{self.base_url}/api/v2/connections/{connection_id}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )

    def delete_connection(self, connection_id: str) -> None:
        requests.delete(
            f"{self.base_url}/api/v2/connections/{connection_id}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_server: AirflowApiServer | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _share_fernet_key() -> None:
    """Make this process and the API server encrypt connections with one key.

    They share the metadata DB, and the API server encrypts the passwords it stores; this process must
    decrypt them (``dag.test()`` reads the new connection). Take the key from airflow.cfg, or make one.
    """
    if os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        return
    from airflow.configuration import AIRFLOW_CONFIG
    from airflow.models.crypto import get_fernet
    from cryptography.fernet import Fernet

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(AIRFLOW_CONFIG)
    key = parser.get("core", "fernet_key", fallback="") or Fernet.generate_key().decode()
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = key
    get_fernet.cache_clear()


def get_or_start() -> AirflowApiServer:
    """The session's API server (the metadata DB must already be migrated)."""
    global _server
    if _server is not None and _server.process.poll() is None:
        return _server
    _share_fernet_key()
    workdir = Path(tempfile.mkdtemp(prefix="stitch-tests-api-server-"))
    password = secrets.token_urlsafe(16)
    passwords_file = workdir / "passwords.json"
    passwords_file.write_text(json.dumps({USERNAME: password}))
    port = _free_port()
    env = os.environ.copy()
    env.update(
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USERNAME}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords_file),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
    )
    log_path = workdir / "api-server.log"
    log_file = log_path.open("wb")
    airflow = Path(sys.executable).parent / "airflow"
    process = subprocess.Popen(
        [
            str(airflow),
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--apps",
            "core",
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = AirflowApiServer(f"http://127.0.0.1:{port}", USERNAME, password, process, log_path)
    atexit.register(server.stop)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"airflow api-server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            if requests.get(f"{server.base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"airflow api-server did not start in {STARTUP_TIMEOUT:g} s:\n{log_path.read_text()[-3000:]}"
            )
        time.sleep(0.5)
    _server = server
    return server
