"""A real S3-compatible HTTP server on 127.0.0.1 (moto's ThreadedMotoServer) for the screenshot store's
tests, one per test session; each test gets a bucket of its own."""
from __future__ import annotations

import uuid

from helpers.redis import free_port

ACCESS_KEY = "TESTACCESSKEY0000001"
SECRET_KEY = "test-s3-secret-key-never-logged-0123456789"


class S3Server:
    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "S3Server":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def client(self):
        from minio import Minio

        return Minio(f"127.0.0.1:{self.port}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False,
                     region="us-east-1")

    def new_bucket(self) -> str:
        name = f"shots-{uuid.uuid4().hex[:12]}"
        self.client().make_bucket(name)
        return name

    def env(self, bucket: str) -> dict:
        """The WXBOT_S3_* variables of a wxbot that keeps its screenshots in ``bucket`` here."""
        return {"WXBOT_S3_ENDPOINT": self.url, "WXBOT_S3_BUCKET": bucket, "WXBOT_S3_REGION": "us-east-1",
                "WXBOT_S3_ACCESS_KEY": ACCESS_KEY, "WXBOT_S3_SECRET_KEY": SECRET_KEY}

    def objects(self, bucket: str) -> list[str]:
        return sorted(o.object_name for o in self.client().list_objects(bucket, recursive=True))

    def read(self, bucket: str, name: str) -> tuple[bytes, str]:
        resp = self.client().get_object(bucket, name)
        try:
            return resp.read(), resp.headers.get("Content-Type", "")
        finally:
            resp.close()
            resp.release_conn()
