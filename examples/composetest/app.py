"""The composetest web service: counts its visits in Redis."""
import time

import redis
from flask import Flask

app = Flask(__name__)
# "redis" is the other service's name, resolved by the project network's DNS.
store = redis.Redis(host="redis", port=6379)


def visits():
    # Redis may still be starting when the first request comes in.
    for attempt in range(10):
        try:
            return store.incr("hits")
        except redis.exceptions.ConnectionError:
            if attempt == 9:
                raise
            time.sleep(0.5)


@app.route("/")
def hello():
    return "Hello World! I have been seen {} times.\n".format(visits())
