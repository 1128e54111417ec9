"""Test helpers: real Redis servers, local HTTP servers, subprocesses, the test account."""
