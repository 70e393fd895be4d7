"""Locust user classes of the classic ML-API load reports, against this service: `npm run load:locust`.

predict users (one photo, multipart field `file`, think 1-3 s), light users (GET /health, GET /metrics,
think 2-5 s) and heavy users (POST /predict/batch with 5-10 photos, think 5-10 s), weights 3 : 1 : 1.
Any non-2xx answer is a failure, as in those reports. Photos come from LOCUST_PHOTOS_DIR (distinct variants
that src/tools/load/locust.ts generates), taken in turn across all users, so no two requests in a row repeat bytes.

Besides Locust's own CSVs, every request is written as one JSON line to LOAD_SAMPLES_DIR in the format of
artillery/processor.js, so src/tools/load/report.ts renders a Locust run as it renders an Artillery run.
"""

import itertools
import json
import os
import random
import time

from locust import HttpUser, between, events, task

PHOTOS_DIR = os.environ.get("LOCUST_PHOTOS_DIR", "")
SAMPLES_DIR = os.environ.get("LOAD_SAMPLES_DIR", "")
API_KEY = os.environ.get("API_KEY", "")
MODEL = os.environ.get("LOAD_MODEL", "")

MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
TIMED = {"POST /predict", "POST /predict/batch"}
CLASS_OF = {"POST /predict": "predict", "POST /predict/batch": "heavy", "GET /health": "light", "GET /metrics": "light"}


def load_photos():
    if not PHOTOS_DIR or not os.path.isdir(PHOTOS_DIR):
        raise RuntimeError(f"LOCUST_PHOTOS_DIR={PHOTOS_DIR!r} is not a folder of photos; run it through `npm run load:locust`")
    out = []
    for name in sorted(os.listdir(PHOTOS_DIR)):
        mime = MIME.get(os.path.splitext(name)[1].lower())
        if mime:
            with open(os.path.join(PHOTOS_DIR, name), "rb") as f:
                out.append((name, f.read(), mime))
    if not out:
        raise RuntimeError(f"no photos in {PHOTOS_DIR}")
    return out


PHOTOS = load_photos()
_turn = itertools.count()


def next_photo():
    return PHOTOS[next(_turn) % len(PHOTOS)]


HEADERS = {"x-api-key": API_KEY} if API_KEY else {}
QUERY = f"?model={MODEL}" if MODEL else ""

_samples = None


def write_sample(sample):
    global _samples
    if not SAMPLES_DIR:
        return
    if _samples is None:
        os.makedirs(SAMPLES_DIR, exist_ok=True)
        # Line-buffered: a run stopped mid-way keeps every finished line.
        _samples = open(os.path.join(SAMPLES_DIR, f"locust-{os.getpid()}.jsonl"), "a", buffering=1)
    _samples.write(json.dumps(sample, separators=(",", ":")) + "\n")


def answer_facts(name, response, sent):
    """In-function time (`timings.totalMs`, for the cost section) and images classified, from a 2xx answer."""
    if name not in TIMED:
        return None, sent
    try:
        body = response.json()
    except ValueError:
        return None, 0
    v = body.get("timings", {}).get("totalMs")
    fn = round(v, 2) if isinstance(v, (int, float)) and v >= 0 else None
    # A batch answers 200 with per-image errors: only the images it classified count as goodput.
    images = body.get("count", sent) - body.get("failed", 0) if name == "POST /predict/batch" else sent
    return fn, images


@events.request.add_listener
def record(request_type, name, response_time, response_length, response, context, exception, **_kw):
    status = getattr(response, "status_code", 0) or 0
    sample = {"t": int(time.time() * 1000), "ep": name, "s": status, "ms": round(response_time, 2), "c": CLASS_OF.get(name, "other")}
    if 200 <= status < 300:
        sample["o"] = "ok"
        fn, sample["n"] = answer_facts(name, response, context.get("images", 0))
        if fn is not None:
            sample["fnMs"] = fn
        if response.headers.get("x-cache") == "hit":
            sample["hit"] = 1
    elif status in (503, 429) and "retry-after" in response.headers:
        sample["o"] = "shed"
    else:
        sample["o"] = "failure"
        if status == 0:
            err = getattr(response, "error", None) or exception
            sample["err"] = type(err).__name__ if err is not None else "Error"
    write_sample(sample)


def check(response):
    """Locust's rule here: every non-2xx answer, and no answer at all, is a failure."""
    if 200 <= response.status_code < 300:
        response.success()
    elif response.status_code == 0:
        response.failure(f"connection error: {type(getattr(response, 'error', None)).__name__}")
    else:
        response.failure(f"HTTP {response.status_code}")


class PredictUser(HttpUser):
    weight = 3
    wait_time = between(1, 3)

    @task
    def predict(self):
        name, data, mime = next_photo()
        with self.client.post(
            f"/predict{QUERY}", files={"file": (name, data, mime)}, headers=HEADERS, name="POST /predict", catch_response=True, context={"images": 1}
        ) as r:
            check(r)


class LightUser(HttpUser):
    weight = 1
    wait_time = between(2, 5)

    @task
    def health(self):
        with self.client.get("/health", name="GET /health", catch_response=True) as r:
            check(r)

    @task
    def metrics(self):
        with self.client.get("/metrics", headers=HEADERS, name="GET /metrics", catch_response=True) as r:
            check(r)


class HeavyUser(HttpUser):
    weight = 1
    wait_time = between(5, 10)

    @task
    def batch(self):
        n = random.randint(5, 10)
        files = [("files", next_photo()) for _ in range(n)]
        with self.client.post(
            f"/predict/batch{QUERY}", files=files, headers=HEADERS, name="POST /predict/batch", catch_response=True, context={"images": n}
        ) as r:
            check(r)
