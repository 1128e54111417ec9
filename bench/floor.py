"""The floor: the thinnest possible Flask WeChat app, a fixed text reply for any POST.

The benchmark runs it under exactly the same gunicorn settings as wxbot, so the ratio of their server
CPU per request measures what wxbot's own work costs.
"""
from flask import Flask, Response

REPLY = (
    "<xml><ToUserName><![CDATA[o]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[floor]]></Content></xml>"
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/wechat")
    def wechat() -> Response:
        return Response(REPLY, mimetype="application/xml")

    return app
