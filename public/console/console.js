// edge-push console: one page over the admin API (docs/admin-api.md), signed in with the admin
// token (kept in sessionStorage), and a live tail over MQTT-over-WebSocket with mqtt.js.
import mqtt from "./vendor/mqtt.esm.js";

const TOKEN_KEY = "edge-push-admin-token";
const APP_KEY = "edge-push-console-app";
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";

/** A DOM element with attributes and children (text is always set as text, never as HTML). */
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : String(c ?? ""));
  return el;
};
const s = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};
const when = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "—");

const state = { apps: [], app: null, tail: null, timers: [], tasksCursor: null };

const say = (msg) => {
  $("#status").textContent = msg ?? "";
};

/** An admin call; a 401 signs out. Answers the JSON body, throws with the API's message. */
async function api(method, path, body) {
  const res = await fetch(`/api/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ""}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) {
    signOut();
    throw new Error("the admin token was refused");
  }
  if (!res.ok) throw new Error(json.message ?? `${method} ${path}: HTTP ${res.status}`);
  return json;
}

/** Runs an action, showing its error in the status line. */
const guarded =
  (fn) =>
  async (...args) => {
    try {
      say("");
      await fn(...args);
    } catch (err) {
      say(err instanceof Error ? err.message : String(err));
    }
  };

// ---------------------------------------------------------------------------------------------
// Sign in, apps and navigation

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopTail();
  $("#nav").hidden = true;
  $("#app-picker").hidden = true;
  show("signin");
}

async function loadApps() {
  state.apps = await api("GET", "/apps");
  const wanted = state.app?.appkey ?? sessionStorage.getItem(APP_KEY);
  state.app = state.apps.find((a) => a.appkey === wanted) ?? state.apps[0] ?? null;
  const select = $("#app-select");
  select.replaceChildren(
    ...state.apps.map((a) => h("option", { value: a.appkey, selected: a === state.app }, a.name)),
  );
  for (const el of document.querySelectorAll(".current-app")) el.textContent = state.app?.name ?? "";
  $("#apps-table tbody").replaceChildren(
    ...state.apps.map((a) =>
      h(
        "tr",
        {
          class: `clickable${a === state.app ? " selected" : ""}`,
          "data-app": a.name,
          onclick: guarded(() => pickApp(a.appkey)),
        },
        h("td", {}, a.name),
        h("td", {}, h("code", {}, a.appkey)),
        h("td", {}, a.enabled ? "yes" : "no"),
        h("td", {}, when(a.created_at)),
      ),
    ),
  );
}

async function pickApp(appkey) {
  sessionStorage.setItem(APP_KEY, appkey);
  state.app = state.apps.find((a) => a.appkey === appkey) ?? null;
  stopTail();
  await loadApps();
  await showView(location.hash.slice(1) || "apps");
}

const VIEWS = ["signin", "apps", "tasks", "send", "live", "technicians", "metrics"];
function show(view) {
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.hash === `#${view}`);
}

async function showView(view) {
  for (const t of state.timers.splice(0)) clearInterval(t);
  if (!sessionStorage.getItem(TOKEN_KEY)) return show("signin");
  if (!VIEWS.includes(view) || view === "signin") view = "apps";
  show(view);
  if (!state.app && view !== "technicians") return;
  if (view === "apps") await loadSettings();
  if (view === "tasks") await loadTasks(true);
  if (view === "live") await loadGroups();
  if (view === "technicians") await loadTechnicians();
  if (view === "metrics") {
    await loadMetrics();
    state.timers.push(setInterval(guarded(loadMetrics), 5000));
  }
}

$("#signin-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#signin-token").value.trim());
    await loadApps();
    $("#signin-token").value = "";
    $("#nav").hidden = false;
    $("#app-picker").hidden = false;
    await showView(location.hash.slice(1) || "apps");
  }),
);
$("#sign-out").addEventListener("click", signOut);
$("#app-select").addEventListener(
  "change",
  guarded((e) => pickApp(e.target.value)),
);
window.addEventListener(
  "hashchange",
  guarded(() => showView(location.hash.slice(1))),
);

$("#create-app-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    const created = await api("POST", "/apps", { name: $("#create-app-name").value.trim() });
    $("#create-app-name").value = "";
    const box = $("#created-app");
    box.hidden = false;
    box.replaceChildren(
      h("p", {}, `Created ${created.name}. The master secret is shown this once:`),
      h("p", {}, "appkey ", h("code", { id: "created-appkey" }, created.appkey)),
      h("p", {}, "app_master_secret ", h("code", { id: "created-secret" }, created.app_master_secret)),
    );
    await pickApp(created.appkey);
  }),
);

// ---------------------------------------------------------------------------------------------
// App settings and providers

const form = () => $("#settings-form").elements;
const num = (v) => (v === "" ? undefined : Number(v));

async function loadSettings() {
  const [app, creds] = await Promise.all([
    api("GET", `/apps/${state.app.appkey}`),
    api("GET", `/apps/${state.app.appkey}/credentials`),
  ]);
  const f = form();
  for (const k of ["enabled", "legacy_token", "embed_msg_id"]) f[k].checked = Boolean(app[k]);
  for (const k of ["push_rate_limit", "ios_payload_limit", "android_payload_limit"])
    f[k].value = app[k] ?? "";
  f.callback_url.value = app.callback_url ?? "";
  const ka = app.mqtt_keepalive;
  f.keepalive_on.checked = Boolean(ka);
  for (const k of ["phone", "watch", "default", "min", "max"]) f[`ka_${k}`].value = ka?.[k] ?? "";
  $("#providers").replaceChildren(
    ...["apns", "getui", "fcm"].map((p) =>
      h("li", { "data-provider": p }, `${p}: ${creds.providers.includes(p) ? "set" : "not set"}`),
    ),
  );
}

$("#settings-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    const f = form();
    const keepalive = {};
    for (const k of ["phone", "watch", "default", "min", "max"]) {
      const v = num(f[`ka_${k}`].value);
      if (v !== undefined) keepalive[k] = v;
    }
    const body = {
      enabled: f.enabled.checked,
      legacy_token: f.legacy_token.checked,
      embed_msg_id: f.embed_msg_id.checked,
      push_rate_limit: num(f.push_rate_limit.value),
      ios_payload_limit: num(f.ios_payload_limit.value),
      android_payload_limit: num(f.android_payload_limit.value),
      callback_url: f.callback_url.value.trim() || null,
      mqtt_keepalive: f.keepalive_on.checked ? keepalive : null,
    };
    await api("PUT", `/apps/${state.app.appkey}`, body);
    await loadApps();
    await loadSettings();
    say("settings saved");
  }),
);

// ---------------------------------------------------------------------------------------------
// Tasks: list, status, targets, timeline

async function loadTasks(fresh) {
  if (fresh) {
    state.tasksCursor = null;
    $("#tasks-table tbody").replaceChildren();
  }
  const q = new URLSearchParams({ limit: "25" });
  const status = $("#tasks-filter").elements.status.value;
  if (status) q.set("status", status);
  if (state.tasksCursor) q.set("cursor", state.tasksCursor);
  const page = await api("GET", `/apps/${state.app.appkey}/tasks?${q}`);
  $("#tasks-table tbody").append(
    ...page.items.map((t) =>
      h(
        "tr",
        { class: "clickable", "data-task": t.task_id, onclick: guarded(() => openTask(t.task_id)) },
        h("td", {}, h("code", {}, t.task_id)),
        h("td", {}, `${t.type} (${t.kind})`),
        h("td", {}, t.status),
        h("td", {}, when(t.created_at)),
      ),
    ),
  );
  state.tasksCursor = page.next_cursor;
  $("#tasks-more").hidden = !page.next_cursor;
}
$("#tasks-filter").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    await loadTasks(true);
  }),
);
$("#tasks-more").addEventListener(
  "click",
  guarded(() => loadTasks(false)),
);

async function openTask(taskId) {
  const base = `/apps/${state.app.appkey}/tasks/${encodeURIComponent(taskId)}`;
  const [st, targets] = await Promise.all([api("GET", base), api("GET", `${base}/targets?limit=100`)]);
  $("#task-detail").hidden = false;
  $("#trace").hidden = true;
  $("#task-id").textContent = taskId;
  const counts = ["status", "total", "sent", "received", "opened", "failed"];
  $("#task-counts").replaceChildren(
    ...counts.flatMap((k) => [h("dt", {}, k), h("dd", { "data-count": k }, st[k])]),
  );
  $("#task-channels tbody").replaceChildren(
    ...Object.keys(st.by_channel).map((ch) =>
      h(
        "tr",
        {},
        h("td", {}, ch),
        h("td", {}, st.by_channel[ch]),
        h("td", {}, st.received_by_channel?.[ch] ?? 0),
        h("td", {}, st.opened_by_channel?.[ch] ?? 0),
      ),
    ),
  );
  $("#task-failures").replaceChildren(
    ...(st.failures.length
      ? st.failures.map((f) => h("li", {}, `${f.device_token ?? f.user_id}: ${f.reason}`))
      : [h("li", {}, "none")]),
  );
  $("#task-targets tbody").replaceChildren(
    ...targets.targets.map((t) => {
      const by = t.device_token ? { device_token: t.device_token } : { user_id: t.user_id };
      return h(
        "tr",
        { class: "clickable", onclick: guarded(() => openTrace(base, by)) },
        h("td", {}, t.device_token ?? `user ${t.user_id}`),
        h("td", {}, t.channel),
        h("td", {}, t.state),
        h("td", {}, t.reason ?? ""),
        h("td", {}, when(t.updated_at)),
      );
    }),
  );
}

async function openTrace(base, by) {
  const trace = await api("GET", `${base}/trace?${new URLSearchParams(by)}`);
  $("#trace").hidden = false;
  $("#trace-target").textContent = by.device_token ?? `user ${by.user_id}`;
  $("#trace-why").textContent = `${trace.state}${trace.why ? `: ${trace.why}` : ""} (msg_id ${trace.msg_id})`;
  $("#trace-events").replaceChildren(
    ...trace.events.map((ev) =>
      h("li", {}, `${when(ev.at)} ${ev.state} ${ev.channel ?? ""} ${ev.detail ? `— ${ev.detail}` : ""}`),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Test push

$("#send-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const target = f.target.value.trim();
    const audience = {
      user: { type: "customizedcast", alias: target },
      group: { type: "groupcast", group_id: target },
      device: { type: "unicast", device_tokens: target },
    }[f.to.value];
    const custom = { push_type: f.push_type.value.trim() || "msg", text: f.text.value };
    const body =
      f.display_type.value === "message" ? { custom } : { title: f.title.value, text: f.text.value, custom };
    const push = {
      ...audience,
      production_mode: f.production_mode.checked,
      payload: { display_type: f.display_type.value, body },
    };
    const { task_id } = await api("POST", `/apps/${state.app.appkey}/push`, push);
    const link = h("a", { href: "#tasks", id: "sent-task" }, task_id);
    link.addEventListener(
      "click",
      guarded(async () => {
        await showView("tasks");
        await openTask(task_id);
      }),
    );
    $("#send-result").replaceChildren("Sent: task ", link);
  }),
);

// ---------------------------------------------------------------------------------------------
// Live: the tail over MQTT, a group's members

function stopTail() {
  state.tail?.end(true);
  state.tail = null;
  $("#tail-start").disabled = false;
  $("#tail-stop").disabled = true;
  $("#tail-state").textContent = "not connected";
}

$("#tail-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    stopTail();
    const f = e.target.elements;
    const user = f.user.value.trim();
    const app = state.app.name;
    const { token } = await api("POST", `/apps/${state.app.appkey}/mqtt-token`, { sub: user });
    const topics = [`${app}/user/${user}/#`];
    for (const g of f.groups.value.split(",").map((x) => x.trim())) if (g) topics.push(`${app}/group/${g}/#`);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/mqtt?token=${encodeURIComponent(token)}`;
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      clientId: `console-${Math.random().toString(36).slice(2, 10)}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 8000,
    });
    state.tail = client;
    $("#tail-start").disabled = true;
    $("#tail-stop").disabled = false;
    $("#tail-state").textContent = "connecting…";
    client.on("connect", () => {
      client.subscribe(topics, { qos: 0 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos >= 128).map((g) => g.topic);
        $("#tail-state").textContent = err
          ? `subscribe failed: ${err.message}`
          : `tailing ${topics.filter((t) => !refused.includes(t)).join(", ")}${refused.length ? ` (refused: ${refused.join(", ")})` : ""}`;
        $("#tail-state").dataset.ready = err ? "" : "1";
      });
    });
    client.on("message", (topic, payload) => {
      const line = h(
        "li",
        { "data-topic": topic },
        h("time", {}, new Date().toLocaleTimeString()),
        " ",
        h("b", {}, topic),
        " ",
        new TextDecoder().decode(payload),
      );
      $("#tail").prepend(line);
      while ($("#tail").children.length > 200) $("#tail").lastChild.remove();
    });
    client.on("error", (err) => {
      $("#tail-state").textContent = `error: ${err.message}`;
    });
    client.on("close", () => {
      if (state.tail === client) $("#tail-state").textContent = "closed";
    });
  }),
);
$("#tail-stop").addEventListener("click", stopTail);

async function loadGroups() {
  const page = await api("GET", `/apps/${state.app.appkey}/groups?limit=200`);
  const select = $("#group-form").elements.group;
  const was = select.value;
  select.replaceChildren(
    ...page.items.map((g) =>
      h("option", { value: g.group_id, selected: g.group_id === was }, `${g.group_id} (${g.members})`),
    ),
  );
}

async function loadMembers(groupId) {
  const page = await api("GET", `/apps/${state.app.appkey}/groups/${encodeURIComponent(groupId)}/presence`);
  $("#group-members tbody").replaceChildren(
    ...page.items.map((m) =>
      h(
        "tr",
        { "data-user": m.user_id },
        h("td", {}, m.user_id),
        h("td", { class: m.online ? "online" : "" }, m.online ? "online" : "offline"),
        h("td", {}, m.focus ? "foreground" : "background"),
        h("td", {}, when(m.last_seen)),
      ),
    ),
  );
}

$("#group-form").addEventListener(
  "submit",
  guarded(async (e) => {
    e.preventDefault();
    const groupId = e.target.elements.group.value;
    if (!groupId) return say("this app has no groups (PUT /psp/groups/:group_id)");
    await loadMembers(groupId);
    for (const t of state.timers.splice(0)) clearInterval(t);
    state.timers.push(
      setInterval(
        guarded(() => loadMembers(groupId)),
        3000,
      ),
    );
  }),
);

// ---------------------------------------------------------------------------------------------
// Technicians awaiting certification

async function loadTechnicians() {
  const page = await api("GET", "/technicians?status=IN_VERIFICATION&limit=200");
  $("#technicians-table tbody").replaceChildren(
    ...(page.items.length
      ? page.items.map((t) =>
          h(
            "tr",
            { "data-technician": t.id },
            h("td", {}, t.id),
            h("td", {}, t.phone),
            h("td", {}, t.name ?? ""),
            h("td", {}, t.idNo ?? ""),
            h("td", {}, t.requestVerifyAt ? new Date(t.requestVerifyAt).toLocaleString() : ""),
            h(
              "td",
              {},
              h(
                "button",
                { type: "button", class: "approve", onclick: guarded(() => certify(t.id, true)) },
                "Approve",
              ),
              " ",
              h(
                "button",
                { type: "button", class: "reject", onclick: guarded(() => certify(t.id, false)) },
                "Reject",
              ),
            ),
          ),
        )
      : [h("tr", {}, h("td", { colspan: 6 }, "nobody is waiting"))]),
  );
}

async function certify(id, approved) {
  const message = approved ? undefined : (prompt("Why is it rejected?") ?? undefined);
  const { technician } = await api("POST", `/technicians/${id}/certification`, { approved, message });
  say(`technician ${id}: ${technician.status}`);
  await loadTechnicians();
}
$("#technicians-refresh").addEventListener("click", guarded(loadTechnicians));

// ---------------------------------------------------------------------------------------------
// Metrics: deliveries per minute by channel and outcome, plain SVG

const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

async function loadMetrics() {
  const { apps } = await api("GET", `/metrics?appkey=${state.app.appkey}&minutes=60`);
  const m = apps[0];
  const now = Math.floor(Date.now() / 60_000);
  const minutes = Array.from({ length: 60 }, (_, i) => now - 59 + i);
  const series = new Map();
  for (const row of m.per_minute) {
    const at = Math.floor(Date.parse(row.minute) / 60_000) - (now - 59);
    if (at < 0 || at > 59) continue;
    for (const [channel, outcomes] of Object.entries(row.deliveries)) {
      for (const [outcome, n] of Object.entries(outcomes)) {
        const key = `${channel} ${outcome}`;
        if (!series.has(key)) series.set(key, new Array(60).fill(0));
        series.get(key)[at] += n;
      }
    }
  }
  drawChart(
    minutes,
    [...series].sort(([a], [b]) => a.localeCompare(b)),
  );
  const totals = {
    pushes: m.window.pushes_accepted,
    "live users": m.live_users,
    "mqtt in": m.window.mqtt_in,
  };
  totals["mqtt out"] = m.window.mqtt_out;
  $("#metrics-totals").replaceChildren(
    ...Object.entries(totals).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

function drawChart(minutes, series) {
  const svg = $("#chart");
  const [W, H, L, B, T] = [720, 260, 40, 24, 10];
  const max = Math.max(1, ...series.flatMap(([, v]) => v));
  const x = (i) => L + (i * (W - L - 10)) / 59;
  const y = (v) => H - B - (v * (H - B - T)) / max;
  const parts = [];
  for (const v of [0, Math.ceil(max / 2), max]) {
    parts.push(s("line", { x1: L, x2: W - 10, y1: y(v), y2: y(v), stroke: "#e5e7eb" }));
    const label = s("text", {
      x: L - 6,
      y: y(v) + 4,
      "text-anchor": "end",
      "font-size": 11,
      fill: "#5b6474",
    });
    label.textContent = String(v);
    parts.push(label);
  }
  for (const i of [0, 15, 30, 45, 59]) {
    const anchor = i === 59 ? "end" : "middle";
    const label = s("text", { x: x(i), y: H - 6, "text-anchor": anchor, "font-size": 11, fill: "#5b6474" });
    label.textContent = new Date(minutes[i] * 60_000).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    parts.push(label);
  }
  series.forEach(([key, values], n) => {
    const color = COLORS[n % COLORS.length];
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    parts.push(s("polyline", { points, fill: "none", stroke: color, "stroke-width": 2, "data-series": key }));
    values.forEach((v, i) => {
      if (v > 0)
        parts.push(s("circle", { cx: x(i), cy: y(v), r: 3, fill: color, "data-point": `${key}:${v}` }));
    });
  });
  svg.replaceChildren(...parts);
  $("#chart-legend").replaceChildren(
    ...(series.length
      ? series.map(([key, values], n) => {
          const swatch = s("svg", { width: 12, height: 12, class: "swatch" });
          swatch.append(s("rect", { width: 12, height: 12, fill: COLORS[n % COLORS.length] }));
          return h("li", { "data-series": key }, swatch, `${key}: ${values.reduce((a, b) => a + b, 0)}`);
        })
      : [h("li", {}, "no deliveries in the last hour")]),
  );
}

// ---------------------------------------------------------------------------------------------
// Start: signed in already in this tab, or the sign-in form.

guarded(async () => {
  if (!sessionStorage.getItem(TOKEN_KEY)) return show("signin");
  await loadApps();
  $("#nav").hidden = false;
  $("#app-picker").hidden = false;
  await showView(location.hash.slice(1) || "apps");
})();
