"""issue 17: a real S3-compatible object store for the tests: SeaweedFS
(`weed server -s3`), built from the Go module proxy by `make s3-server`
(part of `make deps`) into the user's cache directory. One store per test
session on free loopback ports, with two identities: `cairn` (read and
write) and `reader` (read and list only, for the PERMISSION_DENIED checks).

    store = S3Store.start(tmpdir)     # None when no binary was built
    store.create_bucket("b")
    store.server_env()                # AWS_* / MLFLOW_S3_* for cairn-server
    store.client()                    # a boto3 client (when boto3 is installed)
    store.stop()
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ACCESS_KEY, SECRET_KEY = "cairn-test-key", "cairn-test-secret-0123456789"
READER_KEY, READER_SECRET = "cairn-reader-key", "cairn-reader-secret-0123456789"
FEDERATOR_KEY, FEDERATOR_SECRET = "cairn-federator-key", "cairn-federator-secret-0123456789"
START_TIMEOUT = 90


def find_binary():
    given = os.environ.get("CAIRN_S3_SERVER")
    if given:
        return given if os.access(given, os.X_OK) else None
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    found = sorted(glob.glob(os.path.join(cache, "cairn", "seaweedfs", "weed-*")), key=os.path.getmtime)
    found = [f for f in found if os.access(f, os.X_OK) and not f.endswith(".tmp")]
    return found[-1] if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Store:
    def __init__(self, proc, endpoint, workdir, log_path):
        self.proc, self.endpoint, self.workdir, self.log_path = proc, endpoint, workdir, log_path

    @classmethod
    def start(cls, workdir=None, tries=3):
        """Free ports are picked, then bound by weed: another process may take
        one meanwhile, so a failed start is tried again on new ports."""
        binary = find_binary()
        if not binary:
            return None
        for attempt in range(tries):
            try:
                return cls._start(binary, workdir)
            except RuntimeError:
                if attempt == tries - 1:
                    raise

    @classmethod
    def _start(cls, binary, workdir):
        workdir = workdir or tempfile.mkdtemp(prefix="cairn-s3-")
        os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
        config = os.path.join(workdir, "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [
                {"name": "cairn", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                 "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
                {"name": "reader", "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
                 "actions": ["Read", "List"]},
                # issues temporary credentials (STS GetFederationToken); a session gets this
                # identity's policies
                {"name": "federator", "credentials": [{"accessKey": FEDERATOR_KEY, "secretKey": FEDERATOR_SECRET}],
                 "actions": ["Admin", "Read", "List", "Tagging", "Write"], "policyNames": ["cairn-sessions"]},
            ], "policies": [{"name": "cairn-sessions", "content": json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:GetFederationToken"], "Resource": ["*"]}]})}],
            }, f)
        # a signing key (weed reads ./security.toml): it turns on the S3 gateway's STS
        # (GetFederationToken: temporary credentials with a session token, for the
        # AWS_SESSION_TOKEN test) and makes the filer require the gateway's signed tokens
        with open(os.path.join(workdir, "security.toml"), "w") as f:
            f.write('[jwt.filer_signing]\nkey = "%s"\n' % os.urandom(24).hex())
        ports = {k: free_port() for k in ("master", "volume", "filer", "s3")}
        # gRPC ports default to port+10000, which may be taken: every one chosen here
        grpc = {k: free_port() for k in ("master", "volume", "filer", "s3")}
        log_path = os.path.join(workdir, "weed.log")
        args = [binary, "server", "-dir=" + os.path.join(workdir, "data"), "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-master.port=%d" % ports["master"],
                "-master.port.grpc=%d" % grpc["master"], "-volume.port=%d" % ports["volume"],
                "-volume.port.grpc=%d" % grpc["volume"], "-filer.port=%d" % ports["filer"],
                "-filer.port.grpc=%d" % grpc["filer"], "-s3", "-s3.port=%d" % ports["s3"],
                "-s3.port.grpc=%d" % grpc["s3"], "-s3.config=" + config,
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=1024", "-volume.max=0"]
        logf = open(log_path, "wb")
        proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=workdir, start_new_session=True)
        logf.close()
        store = cls(proc, f"http://127.0.0.1:{ports['s3']}", workdir, log_path)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited ({proc.returncode}):\n{store.log_tail()}")
            try:
                store.create_bucket("cairn-probe")
                return store
            except Exception:
                time.sleep(0.5)
        store.stop()
        raise RuntimeError(f"SeaweedFS's S3 gateway did not answer within {START_TIMEOUT}s:\n{store.log_tail()}")

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def server_env(self, key=ACCESS_KEY, secret=SECRET_KEY):
        """What cairn-server (and an mlflow client talking to S3 itself) needs."""
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
                "MLFLOW_S3_ENDPOINT_URL": self.endpoint}

    def client(self, key=ACCESS_KEY, secret=SECRET_KEY):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=key,
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def create_bucket(self, name):
        """PUT /bucket, signed by curl's SigV4 (no Python S3 library needed)."""
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                              "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ACCESS_KEY}:{SECRET_KEY}",
                              "-X", "PUT", f"{self.endpoint}/{name}"], capture_output=True, text=True)
        code = out.stdout.strip()
        if code not in ("200", "409"):
            raise RuntimeError(f"create bucket {name}: {code} {out.stderr}")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


if __name__ == "__main__":
    s = S3Store.start()
    print("endpoint", s.endpoint if s else None)
    if s:
        s.stop()
