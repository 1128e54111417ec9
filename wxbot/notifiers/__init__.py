"""Outbound HTTP: signed JSON webhooks, the WeCom group robot, WeChat's API."""
