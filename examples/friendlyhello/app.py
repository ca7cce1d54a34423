from flask import Flask
import os, socket

app = Flask(__name__)

@app.route("/")
def hello():
    return f"Hello {os.getenv('NAME', 'world')}! I am {socket.gethostname()}.\n"

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=80)
