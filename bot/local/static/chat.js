// Lessons Bot local chat: a small client for the /ws protocol (see bot/local/routes.py).
// Message bodies arrive as HTML rendered (and escaped) by the server; everything else that
// comes from people (names, channel names) is set with textContent.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    ws: null,
    me: null,
    people: [],
    channels: [],
    dm: null,
    channel: null,
    thread: null,
    openNextThread: false,
    retry: 0,
  };

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function setCookie(name, value) {
    document.cookie = `${name}=${encodeURIComponent(value)}; path=/; max-age=31536000; SameSite=Strict`;
  }

  function send(payload) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(payload));
      return true;
    }
    toast("Not connected: reconnecting…");
    return false;
  }

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    state.ws = ws;
    ws.onopen = () => {
      state.retry = 0;
      $("status").textContent = "connected";
      $("status").className = "status ok";
      const [channel, thread] = fromHash();
      send({ type: "hello", as: cookie("lessons_as"), channel: channel, thread: thread });
    };
    ws.onmessage = (event) => receive(JSON.parse(event.data));
    ws.onclose = () => {
      $("status").textContent = "reconnecting…";
      $("status").className = "status down";
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, 250 * 2 ** state.retry);
    };
  }

  function fromHash() {
    const [channel, thread] = decodeURIComponent(location.hash.slice(1)).split("/");
    return [channel || null, thread ? Number(thread) : null];
  }

  function receive(msg) {
    switch (msg.type) {
      case "state": return onState(msg);
      case "history": return onHistory(msg);
      case "message": return onMessage(msg.message);
      case "update": return onUpdate(msg.message);
      case "remove": return onRemove(msg.id);
      case "error": return toast(msg.text);
      case "form-error": return onFormError(msg);
    }
  }

  // A refused form stays open with what was typed; the reason shows inside it.
  function onFormError(msg) {
    const item = document.querySelector(`li.msg[data-id="${Number(msg.message)}"]`);
    const form = item && [...item.querySelectorAll("form.reply-form")].find((f) => f.dataset.form === msg.form);
    if (!form) return toast(msg.text);
    for (const el of form.elements) el.disabled = false;
    for (const old of form.querySelectorAll(".form-error")) old.remove();
    const note = document.createElement("p");
    note.className = "form-error";
    note.setAttribute("role", "alert");
    note.textContent = msg.text;
    const input = msg.field ? form.querySelector(`[name="${CSS.escape(msg.field)}"]`) : null;
    if (input) {
      input.after(note);
      input.focus();
    } else {
      form.querySelector("button[type=submit]").before(note);
    }
  }

  function onState(msg) {
    state.me = msg.me;
    state.people = msg.people;
    state.channels = msg.channels;
    state.dm = msg.dm;
    const select = $("acting-as");
    select.replaceChildren();
    if (!msg.me) {
      const guest = new Option("Guest (not in the directory)", "");
      select.add(guest);
    }
    for (const p of msg.people) {
      const roles = p.roles.length ? ` — ${p.roles.join(", ")}` : "";
      const mission = p.mission ? ` (${p.mission})` : "";
      select.add(new Option(`${p.name}${roles}${mission}`, p.email || ""));
    }
    select.value = msg.me ? msg.me.email : "";
    if (!msg.me && !cookie("lessons_as") && msg.people.length) {
      // First visit: act as the first member of staff so every button works at once.
      const first = msg.people.find((p) => p.roles.includes("staff")) || msg.people[0];
      setCookie("lessons_as", first.email);
      send({ type: "hello", as: first.email, channel: state.channel, thread: state.thread });
    }
    const list = $("channels");
    list.replaceChildren();
    for (const name of msg.channels) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "nav-item";
      button.dataset.channel = name;
      button.textContent = `# ${name}`;
      item.append(button);
      list.append(item);
    }
    $("dm-link").dataset.channel = msg.dm || "";
    $("dm-link").disabled = !msg.dm;
    markCurrent();
  }

  function onHistory(msg) {
    state.channel = msg.channel;
    state.thread = msg.thread;
    location.hash = msg.thread ? `${msg.channel}/${msg.thread}` : msg.channel;
    const isDm = msg.channel === state.dm;
    $("channel-title").textContent = isDm ? "Lessons Bot" : `# ${msg.channel}`;
    $("channel-hint").textContent = isDm
      ? "Your direct messages with the bot: answers, your actions, reminders and digests."
      : "Mention @lessons to ask, or type /aar start <event> to run an After-Action Review.";
    $("text").placeholder = isDm
      ? "Ask: what did we learn about elections?"
      : `Message #${msg.channel} (start with @lessons to ask the bot)`;
    fill($("messages"), msg.messages, true);
    const pane = $("thread");
    if (msg.thread) {
      pane.hidden = false;
      fill($("thread-messages"), msg.thread_messages, false);
    } else {
      pane.hidden = true;
      $("thread-messages").replaceChildren();
    }
    markCurrent();
  }

  function markCurrent() {
    for (const el of document.querySelectorAll(".nav-item[data-channel]")) {
      el.classList.toggle("current", el.dataset.channel === state.channel);
      if (el.dataset.channel === state.channel) el.setAttribute("aria-current", "page");
      else el.removeAttribute("aria-current");
    }
  }

  function fill(list, messages, roots) {
    list.replaceChildren(...messages.map((m) => row(m, roots)));
    list.scrollTop = list.scrollHeight;
  }

  function initials(name) {
    return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
  }

  function row(m, root) {
    const li = document.createElement("li");
    li.className = "msg" + (m.bot ? " bot" : "") + (m.private ? " private-msg" : "");
    li.dataset.id = m.id;
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.textContent = m.bot ? "LB" : initials(m.author);
    avatar.setAttribute("aria-hidden", "true");
    const body = document.createElement("div");
    body.className = "msg-body";
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("strong");
    author.className = "author";
    author.textContent = m.author;
    const time = document.createElement("time");
    time.textContent = m.at;
    meta.append(author, " ", time);
    if (m.edited) meta.append(" ", Object.assign(document.createElement("span"), { className: "hint", textContent: "(edited)" }));
    const content = document.createElement("div");
    content.className = "content";
    if (m.deleted) {
      content.textContent = "This message was deleted.";
      content.classList.add("hint");
    } else {
      content.innerHTML = m.html; // rendered and escaped by bot/local/render.py
    }
    body.append(meta, content);
    if (!m.bot && state.me && m.author_id === state.me.id && !m.deleted) {
      const tools = document.createElement("span");
      tools.className = "msg-tools";
      tools.append(tool("Edit", "edit"), tool("Delete", "delete"));
      meta.append(" ", tools);
    }
    if (root && !m.thread && state.channel !== state.dm) {
      const link = document.createElement("button");
      link.type = "button";
      link.className = "thread-link btn-plain";
      link.dataset.thread = m.id;
      link.textContent = replies(m.replies);
      body.append(link);
    }
    li.append(avatar, body);
    return li;
  }

  function tool(label, kind) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn-plain msg-tool";
    b.dataset.tool = kind;
    b.textContent = label;
    return b;
  }

  function replies(n) {
    return n ? `${n} ${n === 1 ? "reply" : "replies"}` : "Reply in thread";
  }

  function onMessage(m) {
    if (m.channel !== state.channel) {
      if (m.channel === state.dm) {
        $("dm-link").classList.add("unread");
      } else {
        const el = document.querySelector(`.nav-item[data-channel="${CSS.escape(m.channel)}"]`);
        if (el) el.classList.add("unread");
      }
      return;
    }
    if (!m.thread) {
      $("messages").append(row(m, true));
      $("messages").scrollTop = $("messages").scrollHeight;
      if (m.bot && state.openNextThread) {
        state.openNextThread = false;
        if (state.channel !== state.dm) send({ type: "open", channel: m.channel, thread: m.id });
      }
      return;
    }
    const root = document.querySelector(`#messages .msg[data-id="${m.thread}"] .thread-link`);
    if (root) {
      const n = (Number(root.dataset.count) || countOf(root.textContent)) + 1;
      root.dataset.count = n;
      root.textContent = replies(n);
    }
    if (state.thread === m.thread) {
      $("thread-messages").append(row(m, false));
      $("thread-messages").scrollTop = $("thread-messages").scrollHeight;
    } else if (m.bot && state.openNextThread) {
      state.openNextThread = false;
      send({ type: "open", channel: m.channel, thread: m.thread });
    }
  }

  function countOf(text) {
    const n = parseInt(text, 10);
    return Number.isNaN(n) ? 0 : n;
  }

  function onUpdate(m) {
    for (const el of document.querySelectorAll(`.msg[data-id="${m.id}"]`)) {
      const fresh = row(m, el.parentElement && el.parentElement.id === "messages");
      const link = el.querySelector(".thread-link");
      const freshLink = fresh.querySelector(".thread-link");
      if (link && freshLink) freshLink.replaceWith(link);
      el.replaceWith(fresh);
    }
  }

  function onRemove(id) {
    for (const el of document.querySelectorAll(`.msg[data-id="${id}"]`)) el.remove();
  }

  function say(text, thread) {
    text = text.trim();
    if (!text || !state.channel) return false;
    if (!thread) state.openNextThread = state.channel !== state.dm;
    return send({ type: "say", channel: state.channel, thread: thread, text: text });
  }

  function composer(form, area, thread) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (say(area.value, thread())) area.value = "";
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  function messageOf(el) {
    const li = el.closest(".msg");
    return li ? Number(li.dataset.id) : null;
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const nav = target.closest(".nav-item[data-channel]");
    if (nav && nav.dataset.channel) {
      nav.classList.remove("unread");
      send({ type: "open", channel: nav.dataset.channel, thread: null });
      return;
    }
    const threadLink = target.closest(".thread-link");
    if (threadLink) {
      send({ type: "open", channel: state.channel, thread: Number(threadLink.dataset.thread) });
      return;
    }
    const button = target.closest("button[data-action]");
    if (button) {
      const message = messageOf(button);
      button.disabled = true;
      setTimeout(() => { button.disabled = false; }, 1500);
      send({ type: "press", message: message, action: button.dataset.action, value: button.dataset.value || "" });
      return;
    }
    const msgTool = target.closest("button[data-tool]");
    if (msgTool) {
      const message = messageOf(msgTool);
      if (msgTool.dataset.tool === "delete") {
        if (confirm("Delete this message?")) send({ type: "delete", message: message });
      } else {
        const li = msgTool.closest(".msg");
        const current = li.querySelector(".content").innerText;
        const text = prompt("Edit your message", current);
        if (text !== null && text.trim()) send({ type: "edit", message: message, text: text });
      }
    }
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("reply-form")) return;
    event.preventDefault();
    const values = {};
    for (const [name, value] of new FormData(form).entries()) values[name] = String(value);
    if (send({ type: "submit", message: messageOf(form), form: form.dataset.form, values: values })) {
      for (const el of form.elements) el.disabled = true;
    }
  });

  $("acting-as").addEventListener("change", (event) => {
    setCookie("lessons_as", event.target.value);
    send({ type: "hello", as: event.target.value, channel: state.channel, thread: null });
  });
  $("close-thread").addEventListener("click", () => send({ type: "open", channel: state.channel, thread: null }));
  $("my-actions").addEventListener("click", () => {
    if (!state.dm) return toast("Pick a person in “Acting as” first.");
    send({ type: "open", channel: state.dm, thread: null });
    send({ type: "say", channel: state.dm, thread: null, text: "actions" });
  });
  $("help").addEventListener("click", () => {
    if (!state.dm) return toast("Pick a person in “Acting as” first.");
    send({ type: "open", channel: state.dm, thread: null });
    send({ type: "say", channel: state.dm, thread: null, text: "help" });
  });
  $("start-aar").addEventListener("click", () => {
    if (!state.channel || state.channel === state.dm) return toast("Open a channel first: an AAR runs in a channel thread.");
    const event = prompt("What event is this After-Action Review about?");
    if (event && event.trim()) say(`/aar start ${event.trim()}`, null);
  });
  composer($("composer"), $("text"), () => null);
  composer($("thread-composer"), $("thread-text"), () => state.thread);
  connect();
})();
