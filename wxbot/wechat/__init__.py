"""WeChat's side: the protocol (verify, decrypt, parse, render), its API, the /wechat endpoint, the menu."""
