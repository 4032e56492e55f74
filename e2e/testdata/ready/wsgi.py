import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"gunicorn worker={os.environ.get('DROVER_WORKER_ID')} pid={os.getpid()}\n".encode()]
