// The ticket list asks for new tickets every few seconds and shows them at the top, without a reload.
// Text goes in through textContent only: a follower's words are never parsed as HTML.
(function () {
  "use strict";
  var list = document.getElementById("ticket-list");
  if (!list || !list.dataset.live) { return; }
  var since = list.dataset.since || "0";
  var interval = parseInt(list.dataset.interval, 10) || 10000;
  var banner = document.getElementById("new-tickets");
  var problem = document.getElementById("poll-error");
  var added = 0;

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function item(t) {
    var li = document.createElement("li");
    li.className = "ticket new";
    li.dataset.id = t.id;
    var a = document.createElement("a");
    a.href = t.url;
    a.appendChild(span("tid", t.id));
    a.appendChild(span("badge " + t.status, t.status_label));
    a.appendChild(span("cat", t.category));
    a.appendChild(span("meta", "订单号 " + t.order_no + " · " + t.amount + " · " + t.created +
      (t.shots ? " · 截图 " + t.shots : "")));
    a.appendChild(span("desc", t.description));
    li.appendChild(a);
    return li;
  }

  function poll() {
    fetch(list.dataset.poll + "?since=" + encodeURIComponent(since), {credentials: "same-origin",
      headers: {"Accept": "application/json"}})
      .then(function (resp) {
        return resp.json().then(function (body) { return {ok: resp.ok, body: body}; });
      })
      .then(function (r) {
        if (!r.ok) {
          problem.textContent = r.body.message || "暂时取不到新工单，请刷新页面。";
          problem.hidden = false;
          return;
        }
        problem.hidden = true;
        since = r.body.since;
        var empty = document.getElementById("no-tickets");
        r.body.tickets.slice().reverse().forEach(function (t) {
          if (list.querySelector('li[data-id="' + t.id + '"]')) { return; }
          if (empty) { empty.remove(); empty = null; }
          list.insertBefore(item(t), list.firstChild);
          added += 1;
        });
        if (added) {
          banner.textContent = "新到 " + added + " 个工单（已显示在最上面）";
          banner.hidden = false;
        }
      })
      .catch(function () {
        problem.textContent = "连不上服务器，稍后会自动再试。";
        problem.hidden = false;
      })
      .then(function () { window.setTimeout(poll, interval); });
  }

  window.setTimeout(poll, interval);
}());
