// live.js: live updates for a page that shows a list (its <main> has
// data-live, the streams of GET /events it shows). New tweets wait behind a
// "N new posts" button at the top of the list rather than moving what is
// being read; counts and the unread notification count change in place.
// The server renders every tweet inserted here. Without this script, pages
// show what existed when they were loaded, and everything works by reloading.
// On every page, it also says the times of tweets (their title) in the
// reader's own time zone rather than the server's UTC.
(function () {
  "use strict";

  var timeFormat = window.Intl && new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
  });

  function localTimes(root) {
    if (!timeFormat) {
      return;
    }
    root.querySelectorAll("time[datetime][title]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        t.title = timeFormat.format(d);
      }
    });
  }
  localTimes(document);

  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) {
    return;
  }
  var streams = main.dataset.live.split(" ").filter(Boolean);
  var conversation = streams.some(function (s) { return s.indexOf("tweet:") === 0; });
  var list = conversation ? main.querySelector("ol.tweets.replies") : main.querySelector("ol.tweets");
  var pending = [];
  var bar = null;

  function tweetIds() {
    var ids = [];
    document.querySelectorAll("li.tweet[id^='tweet-']").forEach(function (li) {
      if (ids.length < 100) {
        ids.push(li.id.slice("tweet-".length));
      }
    });
    return ids;
  }

  function showBar(text, onClick) {
    if (!list) {
      return;
    }
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "live-bar";
      bar.setAttribute("role", "status");
      var button = document.createElement("button");
      button.type = "button";
      bar.appendChild(button);
      list.parentNode.insertBefore(bar, list);
    }
    var b = bar.querySelector("button");
    b.textContent = text;
    b.onclick = onClick;
  }

  function hideBar() {
    if (bar) {
      bar.remove();
      bar = null;
    }
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  function showPending() {
    var empty = list.querySelector("li.empty");
    if (empty) {
      empty.remove();
    }
    pending.forEach(function (p) {
      if (!document.getElementById("tweet-" + p.id)) {
        list.insertAdjacentHTML(conversation ? "beforeend" : "afterbegin", p.html);
        localTimes(document.getElementById("tweet-" + p.id) || list);
      }
    });
    pending = [];
    hideBar();
  }

  function onPost(e) {
    var d = JSON.parse(e.data);
    if (!list || document.getElementById("tweet-" + d.id) ||
        pending.some(function (p) { return p.id === d.id; })) {
      return;
    }
    pending.push(d);
    var n = pending.length;
    showBar(conversation ? plural(n, "new reply", "new replies") + " — show" :
      plural(n, "new post", "new posts") + " — show", showPending);
  }

  function onCounts(e) {
    var d = JSON.parse(e.data);
    var li = document.getElementById("tweet-" + d.id);
    if (!li) {
      return;
    }
    var set = function (cls, n, one, many) {
      var el = li.querySelector("." + cls);
      if (el) {
        el.textContent = plural(n, one, many);
      }
    };
    set("replies", d.replies, "reply", "replies");
    set("reposts", d.reposts, "repost", "reposts");
    set("likes", d.likes, "like", "likes");
  }

  function onGone(e) {
    var d = JSON.parse(e.data);
    var li = document.getElementById("tweet-" + d.id);
    if (li && li.closest("ol.ancestors")) {
      // Above a reply, the conversation keeps its place, as the page does.
      var gone = document.createElement("li");
      gone.className = "gone";
      gone.appendChild(document.createElement("p")).textContent = "This tweet was deleted.";
      li.replaceWith(gone);
    } else if (li && li.closest("ol.focus") === null) {
      li.remove();
    }
    pending = pending.filter(function (p) { return p.id !== d.id; });
    if (bar && pending.length === 0) {
      hideBar();
    }
  }

  function onUnread(e) {
    var d = JSON.parse(e.data);
    var link = document.querySelector("header.site a[href='/notifications']");
    if (!link) {
      return;
    }
    var badge = link.querySelector(".badge");
    if (d.unread > 0) {
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(badge);
      }
      badge.textContent = String(d.unread);
      badge.setAttribute("aria-label", d.unread + " unread");
    } else if (badge) {
      badge.remove();
    }
  }

  function onReload() {
    showBar("New posts — reload the page", function () { location.reload(); });
  }

  // last is the id of the last event seen: the page's own at first (what
  // it was rendered after), so that nothing between is missed.
  var last = main.dataset.since || "";
  var failures = 0;

  function on(source, name, handle) {
    source.addEventListener(name, function (e) {
      if (e.lastEventId) {
        last = e.lastEventId;
      }
      handle(e);
    });
  }

  // connect opens the stream. The browser reconnects by itself after a
  // dropped connection (sending Last-Event-ID); an answer other than a
  // stream (a proxy's 502 while an instance restarts, a 429) closes it for
  // good, so it is opened again here, a little later each time.
  function connect() {
    var query = streams.map(function (s) { return "stream=" + encodeURIComponent(s); });
    var ids = tweetIds();
    if (ids.length) {
      query.push("watch=" + ids.join(","));
    }
    if (last) {
      query.push("since=" + encodeURIComponent(last));
    }
    var source = new EventSource("/events?" + query.join("&"));
    on(source, "post", onPost);
    on(source, "counts", onCounts);
    on(source, "gone", onGone);
    on(source, "unread", onUnread);
    on(source, "reload", onReload);
    source.addEventListener("open", function () {
      failures = 0;
      main.dataset.liveState = "open";
    });
    source.addEventListener("error", function () {
      main.dataset.liveState = "reconnecting";
      if (source.readyState === EventSource.CLOSED && failures < 10) {
        failures++;
        // Each page waits its own time, so that pages refused together
        // (the site down) do not all come back together.
        setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, failures)) * (0.5 + Math.random()));
      }
    });
  }
  connect();
})();
