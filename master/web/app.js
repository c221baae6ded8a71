/*
 * herd's page: one script, no imports, no build step (the HTML report inlines it).
 *
 * Two modes. Live (served by herd-master): GET api/state once (the whole document, the
 * test's history from its second 0), then Server-Sent Events from api/events (one "state"
 * event a second: the same document with only the history's last rows), falling back to
 * polling api/state every 2 s when the events keep failing. Report (the page written by
 * --html or /stats/report): the document is in the JSON script element "herd-data",
 * nothing is fetched and there are no controls.
 *
 * Every string from the document (names, errors, hosts, log lines) reaches the page through
 * esc() or textContent: never as HTML.
 */
(function () {
  'use strict';

  var dataEl = document.getElementById('herd-data');
  var REPORT = !!dataEl;
  var POLL_MS = 2000;
  var ROW_REFRESH_MS = 2000;
  var MAX_LOGS = 5000;
  var PCT_KEYS = ['50', '66', '75', '80', '90', '95', '98', '99', '99.9', '99.99', '100'];
  var LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

  var S = {
    doc: null,          // the last document applied
    hist: [],           // Aggregated history rows of the test, from its second 0
    histOffset: 0,      // history_total - rows the server returned, at the last full fetch
    histFetching: false,
    testKey: null,      // the test the rows belong to (its start time)
    row: null,          // {method, name} whose charts are shown; null: Aggregated
    rowHist: [],
    rowFetchAt: 0,
    rowFetching: false,
    rowNote: '',        // why the charts are not the row clicked
    sort: { key: null, dir: 1 },
    filter: '',
    tab: 'stats',
    rendered: [],       // the stats rows as last rendered, by data-i
    statsHtml: '',
    statsEmpty: '',
    rowH: 0,            // a stats row's height in pixels, once measured
    logs: [],           // sorted by seq
    lastSeq: -1,
    logsFetching: false,
    logsShown: 0,       // how many of S.logs the Logs tab shows (appended since)
    logsLevel: 'INFO',
    showForm: false,    // "New test" was pressed
    formFilled: false,
    actionError: '',
    actionErrorUntil: 0,
    conn: REPORT ? 'report' : 'loading',
  };

  function $(id) { return document.getElementById(id); }

  /* ---- formatting ----------------------------------------------------------------------- */

  var ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(s) {
    return s === null || s === undefined ? '' : String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  /* Milliseconds with their precision: 3 significant digits below 10 ms (0.420, 3.14), whole
     milliseconds above. A sub-millisecond time never shows as 0. */
  function fmtMs(v) {
    if (!isNum(v)) return '—';
    if (v === 0) return '0';
    if (Math.abs(v) < 10) return v.toPrecision(3);
    return String(Math.round(v));
  }
  function fmtInt(v) { return isNum(v) ? String(Math.round(v)) : '—'; }
  function fmtRate(v) {
    if (!isNum(v)) return '—';
    if (v >= 1000) return v.toFixed(0);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }
  function fmtPct(ratio) {
    if (!isNum(ratio)) return '—';
    var p = ratio * 100;
    return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';
  }
  function fmtBytes(v) {
    if (!isNum(v)) return '—';
    var mib = v / 1048576;
    return mib >= 1024 ? (mib / 1024).toFixed(2) + ' GiB' : mib.toFixed(1) + ' MiB';
  }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function fmtElapsed(s) {
    s = Math.round(s);
    var neg = s < 0 ? '-' : '';
    s = Math.abs(s);
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return neg + (h ? h + ':' + pad2(m) : String(m)) + ':' + pad2(sec);
  }
  function fmtClock(unix) {
    var d = new Date(unix * 1000);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }
  function fmtDate(iso) {
    if (!iso) return '—';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }
  function fmtDuration(s) {
    if (!isNum(s)) return '—';
    return s < 60 ? s.toFixed(1) + ' s' : fmtElapsed(s);
  }
  function pct(r, k) { return r && r.percentiles ? r.percentiles[k] : null; }
  function rowKey(method, name) { return (method || '') + ' ' + name; }

  /* ---- the document's parts ------------------------------------------------------------- */

  function statsRows(doc) {
    var st = doc && doc.stats ? doc.stats : [];
    return st.length ? st.slice(0, st.length - 1) : [];
  }
  function aggregated(doc) {
    var st = doc && doc.stats ? doc.stats : [];
    return st.length ? st[st.length - 1] : null;
  }
  function activeState(st) { return st === 'running' || st === 'spawning'; }
  function endedState(st) { return st === 'stopped' || st === 'done'; }
  function currentRps(doc) {
    if (REPORT) { var a = aggregated(doc); return a ? a.num_reqs_per_sec : 0; }
    return doc.current_rps;
  }
  function failRatio(doc) {
    if (isNum(doc.fail_ratio)) return doc.fail_ratio;
    var a = aggregated(doc);
    return a ? a.fail_ratio : 0;
  }

  /* ---- header, buttons, banner, form ---------------------------------------------------- */

  function setText(id, text) {
    var el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function renderHeader(doc) {
    var file = String(doc.scenario || '');
    setText('scenario', file.slice(file.lastIndexOf('/') + 1));
    $('scenario').title = file + (doc.description ? ': ' + doc.description : '');
    /* Before a test, the host a start would use; during and after one, the test's. */
    var d = doc.defaults || {};
    var host = (doc.state === 'ready' ? d.host || doc.host : doc.host || d.host) || '(per user class)';
    setText('h-host', host);
    $('h-host').title = host;
    var state = doc.state || '—';
    if (S.conn === 'lost') state = 'disconnected';
    setText('h-state', state);
    $('h-state').className = 'state-' + (S.conn === 'lost' ? 'lost' : state);
    setText('h-users', fmtInt(doc.user_count));
    var workers = isNum(doc.worker_count) ? doc.worker_count : (doc.workers || []).length;
    var expect = doc.expect_workers;
    setText('h-workers', isNum(expect) && expect > 1 ? workers + ' / ' + expect : String(workers));
    setText('h-rps', fmtRate(currentRps(doc)));
    setText('h-fail', fmtPct(failRatio(doc)));
    $('h-fail').className = failRatio(doc) > 0 ? 'fails-nonzero' : '';
    document.title = 'herd · ' + state + (doc.scenario ? ' · ' + doc.scenario : '');
  }

  function renderButtons(doc) {
    if (REPORT) { $('actions').hidden = true; return; }
    var st = doc.state;
    var stages = !!(doc.defaults && doc.defaults.stages);
    var formShown = formVisible(doc);
    $('btn-edit').hidden = !activeState(st) || formShown;
    $('btn-edit').disabled = stages;
    $('btn-edit').title = stages ? 'This test follows stages: its users cannot be changed by hand' : '';
    $('btn-stop').hidden = !(activeState(st) || st === 'waiting') || formShown;
    $('btn-reset').hidden = !(activeState(st) || st === 'stopped') || formShown;
    $('btn-new').hidden = st !== 'stopped' || formShown;
  }

  function renderBanner(doc) {
    var msg = doc.message || '';
    if (S.actionError && Date.now() < S.actionErrorUntil) msg = S.actionError + (msg ? ' — ' + msg : '');
    if (S.conn === 'lost') msg = 'Lost the connection to herd-master; retrying every 2 s.' + (msg ? ' ' + msg : '');
    var b = $('banner');
    b.hidden = !msg;
    if (b.textContent !== msg) b.textContent = msg;
  }

  function formVisible(doc) {
    if (REPORT) return false;
    return doc.state === 'ready' || (S.showForm && doc.state === 'stopped');
  }

  function fillForm(doc) {
    var d = doc.defaults || {};
    $('f-users').value = isNum(d.user_count) ? String(d.user_count) : '1';
    $('f-rate').value = isNum(d.spawn_rate) ? String(d.spawn_rate) : '1';
    $('f-host').value = d.host || doc.host || '';
    $('f-runtime').value = isNum(d.run_time) && d.run_time > 0 ? d.run_time + 's' : '';
    $('f-stages').value = d.stages || '';
    $('f-tags').value = (d.tags || []).join(',');
    $('f-exclude').value = (d.exclude_tags || []).join(',');
    if (d.stages || (d.tags && d.tags.length) || (d.exclude_tags && d.exclude_tags.length) ||
        (isNum(d.run_time) && d.run_time > 0))
      $('f-advanced').open = true;
    $('start-error').hidden = true;
  }

  function renderForm(doc) {
    var show = formVisible(doc);
    $('start').hidden = !show;
    $('main').hidden = show;
    if (!show) { S.formFilled = false; return; }
    if (!S.formFilled) { fillForm(doc); S.formFilled = true; }
    $('f-cancel').hidden = doc.state !== 'stopped';
    var workers = isNum(doc.worker_count) ? doc.worker_count : 0;
    var expect = isNum(doc.expect_workers) ? Math.max(1, doc.expect_workers) : 1;
    var waiting = workers < expect;
    var busy = $('f-start').dataset.busy === '1';
    $('f-start').disabled = waiting || busy || S.conn === 'lost';
    var note = waiting ? 'Waiting for workers: ' + workers + ' of ' + expect + ' connected.' : '';
    $('start-wait').hidden = !note;
    setText('start-wait', note);
    $('f-start').title = note;
  }

  /* ---- Statistics ----------------------------------------------------------------------- */

  var COLS = [
    { key: 'method', label: 'Type', text: true, get: function (r) { return r.method; } },
    { key: 'name', label: 'Name', text: true, cls: 'name', get: function (r) { return r.name; } },
    { key: 'num_requests', label: '# Requests', fmt: fmtInt, get: function (r) { return r.num_requests; } },
    { key: 'num_failures', label: '# Fails', fmt: fmtInt, get: function (r) { return r.num_failures; } },
    { key: 'median', label: 'Median', unit: 'ms', fmt: fmtMs, get: function (r) { return r.num_requests ? r.median_response_time : null; } },
    { key: 'p90', label: '90%ile', unit: 'ms', fmt: fmtMs, get: function (r) { return pct(r, '90'); } },
    { key: 'p95', label: '95%ile', unit: 'ms', fmt: fmtMs, get: function (r) { return pct(r, '95'); } },
    { key: 'p99', label: '99%ile', unit: 'ms', fmt: fmtMs, get: function (r) { return pct(r, '99'); } },
    { key: 'avg', label: 'Average', unit: 'ms', fmt: fmtMs, get: function (r) { return r.num_requests ? r.avg_response_time : null; } },
    { key: 'min', label: 'Min', unit: 'ms', fmt: fmtMs, get: function (r) { return r.min_response_time; } },
    { key: 'max', label: 'Max', unit: 'ms', fmt: fmtMs, get: function (r) { return r.num_requests ? r.max_response_time : null; } },
    { key: 'size', label: 'Avg size', unit: 'bytes', fmt: fmtInt, get: function (r) { return r.avg_content_length; } },
    { key: 'rps', label: REPORT ? 'RPS' : 'Current RPS', fmt: fmtRate,
      get: function (r) { return REPORT ? r.num_reqs_per_sec : r.current_rps; } },
    { key: 'fps', label: REPORT ? 'Failures/s' : 'Current failures/s', fmt: fmtRate,
      get: function (r) { return REPORT ? r.num_fail_per_sec : r.current_fail_per_sec; } },
  ];
  var COL_BY_KEY = {};
  COLS.forEach(function (c) { COL_BY_KEY[c.key] = c; });

  function renderStatsHead() {
    var html = '';
    COLS.forEach(function (c) {
      var cls = c.text ? '' : 'num';
      if (S.sort.key === c.key) cls += S.sort.dir > 0 ? ' sorted-asc' : ' sorted-desc';
      html += '<th data-key="' + c.key + '" class="' + cls + '" title="' + (c.unit ? 'In ' + c.unit + '. ' : '') + 'Click to sort">' +
        esc(c.label) + '</th>';
    });
    $('stats-head').innerHTML = html;
  }

  function cellsHtml(r) {
    var html = '';
    for (var i = 0; i < COLS.length; i++) {
      var c = COLS[i], v = c.get(r);
      if (c.text) {
        html += c.cls ? '<td class="' + c.cls + '"><span title="' + esc(v) + '">' + esc(v) + '</span></td>' : '<td>' + esc(v) + '</td>';
      } else {
        var cls = 'num';
        if (c.key === 'num_failures' && v > 0) cls += ' fails-nonzero';
        html += '<td class="' + cls + '">' + c.fmt(v) + '</td>';
      }
    }
    return html;
  }

  function compareRows(col, dir) {
    return function (a, b) {
      var x = col.get(a.r), y = col.get(b.r), d;
      if (col.text) {
        d = String(x || '').localeCompare(String(y || ''));
      } else {
        x = isNum(x) ? x : -Infinity;
        y = isNum(y) ? y : -Infinity;
        d = x < y ? -1 : x > y ? 1 : 0;
      }
      return d ? d * dir : a.i - b.i;   // stable: ties keep the document's order
    };
  }

  function isSelected(r) {
    return S.row && S.row.method === (r.method || '') && S.row.name === r.name;
  }

  /* Above VIRTUAL_FROM rows only those in view, and ROW_MARGIN either side, are in the
     table; spacer rows stand for the others. A thousand rows then cost what a hundred do,
     each second. Rows are one line high (long names are cut, with the whole one as title). */
  var VIRTUAL_FROM = 150;
  var ROW_MARGIN = 40;

  function renderStats(doc) {
    var started = window.performance ? performance.now() : 0;
    var rows = statsRows(doc);
    var agg = aggregated(doc);
    var list = [];
    var f = S.filter.toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (f && (String(r.name).toLowerCase().indexOf(f) < 0) && (String(r.method).toLowerCase().indexOf(f) < 0)) continue;
      list.push({ r: r, i: i });
    }
    if (S.sort.key && COL_BY_KEY[S.sort.key]) list.sort(compareRows(COL_BY_KEY[S.sort.key], S.sort.dir));
    S.rendered = new Array(list.length);
    for (var k = 0; k < list.length; k++) S.rendered[k] = list[k].r;
    S.statsEmpty = rows.length ? 'No row matches the filter.' : 'No requests yet.';
    renderStatsRows();
    var foot = agg ? '<tr data-agg="1" title="Aggregated: click for its charts">' + cellsHtml(agg) + '</tr>' : '';
    if ($('stats-foot').innerHTML !== foot) $('stats-foot').innerHTML = foot;
    setText('stats-shown', rows.length ? (list.length === rows.length ? rows.length + ' rows' : list.length + ' of ' + rows.length + ' rows') : '');
    renderRunInfo(doc);
    renderThresholds(doc);
    if ($('pct-details').open) renderPercentiles(doc, 'pct-table', false);
    var hasCorr = !!(agg && agg.corrected);
    $('corr-details').hidden = !hasCorr;
    if (hasCorr && $('corr-details').open) renderPercentiles(doc, 'corr-table', true);
    if (window.performance) window.herdStatsRenderMs = performance.now() - started;   // the tests read it
  }

  /* The rows of S.rendered that are in view (all of them up to VIRTUAL_FROM). */
  function renderStatsRows() {
    var list = S.rendered, n = list.length, body = $('stats-body');
    var from = 0, to = n;
    if (n > VIRTUAL_FROM) {
      var wrap = $('stats-wrap'), rowH = S.rowH || 28;
      from = Math.max(0, Math.floor(wrap.scrollTop / rowH) - ROW_MARGIN);
      to = Math.min(n, from + Math.ceil((wrap.clientHeight || 800) / rowH) + 2 * ROW_MARGIN);
    }
    var spacer = '<tr class="spacer"><td colspan="' + COLS.length + '"></td></tr>';
    var parts = [];
    if (from > 0) parts.push(spacer);
    for (var k = from; k < to; k++)
      parts.push('<tr data-i="' + k + '"' + (isSelected(list[k]) ? ' class="selected"' : '') + '>' + cellsHtml(list[k]) + '</tr>');
    if (to < n) parts.push(spacer);
    var html = n ? parts.join('') : '<tr><td colspan="' + COLS.length + '" class="empty">' + S.statsEmpty + '</td></tr>';
    if (html === S.statsHtml) return;
    body.innerHTML = html;
    S.statsHtml = html;
    if (!S.rowH) {   // measured once: reading a height forces a layout
      var first = body.querySelector('tr[data-i]');
      if (first && first.offsetHeight) S.rowH = first.offsetHeight;
    }
    var spacers = body.querySelectorAll('tr.spacer');
    var rowH = S.rowH || 28, si = 0;
    if (from > 0) spacers[si++].style.height = from * rowH + 'px';
    if (to < n) spacers[si].style.height = (n - to) * rowH + 'px';
  }

  function renderPercentiles(doc, tableId, corrected) {
    var html = '<thead><tr><th>Type</th><th>Name</th>';
    PCT_KEYS.forEach(function (k) { html += '<th class="num">' + k + '%</th>'; });
    html += '<th class="num"># reqs</th></tr></thead><tbody>';
    var rows = statsRows(doc).concat([aggregated(doc)]);
    var any = false;
    rows.forEach(function (r) {
      if (!r) return;
      var e = corrected ? r.corrected : r;
      if (!e || !e.num_requests) return;
      any = true;
      html += '<tr><td>' + esc(r.method) + '</td><td class="name">' + esc(r.name) + '</td>';
      PCT_KEYS.forEach(function (k) { html += '<td class="num">' + fmtMs(pct(e, k)) + '</td>'; });
      html += '<td class="num">' + fmtInt(e.num_requests) + '</td></tr>';
    });
    if (!any) html += '<tr><td colspan="' + (PCT_KEYS.length + 3) + '" class="empty">No requests.</td></tr>';
    html += '</tbody>';
    $(tableId).innerHTML = html;
  }

  function renderRunInfo(doc) {
    var items = [];
    function add(label, value) { items.push('<span>' + esc(label) + ' <b>' + esc(value) + '</b></span>'); }
    if (doc.description) add('Description', doc.description);
    if (doc.start_time) add('Started', fmtDate(doc.start_time));
    var ended = REPORT || endedState(doc.state);
    if (ended && doc.end_time) add('Ended', fmtDate(doc.end_time));
    if (ended && isNum(doc.duration_s)) add('Duration', fmtDuration(doc.duration_s));
    if (doc.stats_start_time) add('Statistics from', fmtDate(doc.stats_start_time));
    if (isNum(doc.run_time) && doc.run_time > 0) add('Run time limit', fmtDuration(doc.run_time));
    if (isNum(doc.peak_users) && doc.peak_users > 0) add('Peak users', String(doc.peak_users));
    if (ended && isNum(doc.exit_code) && doc.start_time) add('Exit code', String(doc.exit_code));
    var html = items.join('');
    if ($('run-info').innerHTML !== html) $('run-info').innerHTML = html;
  }

  function renderThresholds(doc) {
    var th = doc.thresholds || [];
    var html = '';
    if (th.length) {
      html = '<table class="data"><thead><tr><th>Threshold</th><th class="num">Observed</th><th>Result</th></tr></thead><tbody>';
      th.forEach(function (t) {
        html += '<tr><td>' + esc(t.threshold) + '</td><td class="num">' + esc(isNum(t.observed) ? +t.observed.toPrecision(6) : '') +
          (t.unit ? ' ' + esc(t.unit) : '') + '</td><td class="' + (t.passed ? 'pass">passed' : 'fail">FAILED') + '</td></tr>';
      });
      html += '</tbody></table>';
    }
    if ($('thresholds').innerHTML !== html) $('thresholds').innerHTML = html;
  }

  /* ---- Failures, ratio, workers --------------------------------------------------------- */

  function renderFailures(doc) {
    var fl = (doc.failures || []).slice();
    fl.sort(function (a, b) { return (b.occurrences || 0) - (a.occurrences || 0); });
    var html = '<thead><tr><th class="num"># Failures</th><th>Method</th><th>Name</th><th>Message</th></tr></thead><tbody>';
    if (!fl.length) html += '<tr><td colspan="4" class="empty">No failures.</td></tr>';
    fl.forEach(function (f) {
      html += '<tr><td class="num">' + fmtInt(f.occurrences) + '</td><td>' + esc(f.method) + '</td><td class="name">' +
        esc(f.name) + '</td><td class="name">' + esc(f.error) + '</td></tr>';
    });
    $('failures-table').innerHTML = html + '</tbody>';
  }

  function ratioList(obj) {
    var names = Object.keys(obj || {});
    if (!names.length) return '<p class="empty">No user classes.</p>';
    var html = '<ul>';
    names.forEach(function (name) {
      var c = obj[name] || {};
      html += '<li><span class="pct">' + fmtPct(c.ratio) + '</span>' + esc(name);
      var tasks = c.tasks || {};
      var tn = Object.keys(tasks);
      if (tn.length) {
        html += '<ul>';
        tn.forEach(function (t) { html += '<li><span class="pct">' + fmtPct((tasks[t] || {}).ratio) + '</span>' + esc(t) + '</li>'; });
        html += '</ul>';
      }
      html += '</li>';
    });
    return html + '</ul>';
  }

  function renderRatio(doc) {
    var r = doc.ratio;
    var html = !r ? '<p class="empty">No ratio: the test has not started.</p>' :
      '<div class="ratio"><section><h3>Ratio per User class</h3>' + ratioList(r.per_class) +
      '</section><section><h3>Total ratio</h3>' + ratioList(r.total) + '</section></div>';
    if ($('ratio').innerHTML !== html) $('ratio').innerHTML = html;
  }

  function renderWorkers(doc) {
    var ws = doc.workers || [];
    var html = '<thead><tr><th>Worker</th><th>Host</th><th>State</th><th class="num">Users</th>' +
      '<th class="num">CPU %</th><th class="num">Memory</th><th class="num"># Requests</th><th class="num"># Fails</th></tr></thead><tbody>';
    if (!ws.length) html += '<tr><td colspan="8" class="empty">No workers connected.</td></tr>';
    ws.forEach(function (w) {
      var cpu = isNum(w.cpu_percent) ? w.cpu_percent.toFixed(1) : '—';
      html += '<tr><td title="' + esc(w.id) + '">' + esc(String(w.id || '').slice(0, 8)) + '</td><td>' + esc(w.hostname) +
        '</td><td>' + esc(w.state) + '</td><td class="num">' + fmtInt(w.users) + '</td><td class="num">' + cpu +
        '</td><td class="num">' + fmtBytes(w.memory_bytes) + '</td><td class="num">' + fmtInt(w.num_requests) +
        '</td><td class="num">' + fmtInt(w.num_failures) + '</td></tr>';
    });
    $('workers-table').innerHTML = html + '</tbody>';
  }

  function renderCounts(doc) {
    var nf = (doc.failures || []).length;
    setText('n-failures', nf ? String(nf) : '');
    var nw = (doc.workers || []).length;
    setText('n-workers', nw ? String(nw) : '');
  }

  /* ---- Logs ----------------------------------------------------------------------------- */

  function logLineHtml(l) {
    var t = isNum(l.time) ? fmtClock(l.time) : '';
    return '<div class="log-' + esc(l.level) + '">' + esc(t) + ' ' + esc(l.level) + ' <span class="log-src">' +
      esc(l.source) + '</span>: ' + esc(l.message) + '</div>';
  }

  function logShown(l) { return (LEVELS[l.level] || 0) >= (LEVELS[S.logsLevel] || 0); }

  function renderLogs(full) {
    var box = $('logs');
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
    if (full || S.logsShown > S.logs.length) {
      box.innerHTML = '';
      S.logsShown = 0;
    }
    var html = '';
    for (var i = S.logsShown; i < S.logs.length; i++)
      if (logShown(S.logs[i])) html += logLineHtml(S.logs[i]);
    S.logsShown = S.logs.length;
    if (html) box.insertAdjacentHTML('beforeend', html);
    if (!box.firstChild) box.innerHTML = '<div class="empty">No log lines' + (S.logs.length ? ' at this level' : '') + '.</div>';
    else if (html && box.firstChild.className === 'empty') box.removeChild(box.firstChild);
    if (atBottom || full) box.scrollTop = box.scrollHeight;
    setText('logs-shown', S.logs.length ? S.logs.length + ' lines kept' : '');
  }

  function addLogs(list) {
    var added = false;
    (list || []).forEach(function (l) {
      if (isNum(l.seq) && l.seq > S.lastSeq) { S.logs.push(l); S.lastSeq = l.seq; added = true; }
    });
    if (S.logs.length > MAX_LOGS) { S.logs.splice(0, S.logs.length - MAX_LOGS); S.logsShown = S.logs.length + 1; }
    return added;
  }

  /* full: the document's logs are the server's last lines (api/state); an event's may skip
     lines the client never saw: then fetch what came after the last one seen. */
  function mergeLogs(list, full) {
    if (!list || !list.length) return;
    if (!full && S.lastSeq >= 0 && list[0].seq > S.lastSeq + 1) { fetchLogs(); return; }
    addLogs(list);
  }

  function fetchLogs() {
    if (S.logsFetching) return;
    S.logsFetching = true;
    getJson('api/logs?after=' + encodeURIComponent(S.lastSeq)).then(function (d) {
      addLogs(d.logs);
      if (S.tab === 'logs') renderLogs(false);
    }).catch(function () {}).then(function () { S.logsFetching = false; });
  }

  /* ---- Charts --------------------------------------------------------------------------- */

  var charts = null;

  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  /* The page's colours (light or dark, style.css) on the charts' text and lines: set on each
     chart's options, since a chart keeps the defaults it resolved when it was made. */
  function themeCharts() {
    if (typeof Chart === 'undefined') return;
    var text = cssVar('--muted') || '#59636e', grid = cssVar('--border') || '#d1d9e0';
    Chart.defaults.color = text;
    Chart.defaults.borderColor = grid;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    if (!charts) return;
    [charts.rps, charts.times, charts.users].forEach(function (ch) {
      var o = ch.options;
      ['x', 'y'].forEach(function (axis) {
        var sc = o.scales[axis];
        sc.grid.color = grid;
        sc.grid.borderColor = grid;
        sc.ticks.color = text;
        sc.title.color = text;
      });
      o.plugins.title.color = text;
      o.plugins.legend.labels.color = text;
    });
  }

  function makeChart(canvas, title, series, yTitle, integer) {
    return new Chart(canvas, {
      type: 'line',
      data: {
        datasets: series.map(function (s) {
          return { label: s.label, data: [], borderColor: s.color, backgroundColor: s.color, borderWidth: 1.5,
                   pointRadius: 0, pointHitRadius: 4, tension: 0, spanGaps: false, fill: false };
        }),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'index', intersect: false, axis: 'x' },
        scales: {
          x: { type: 'linear', min: 0, title: { display: true, text: 'elapsed (m:ss)' },
               ticks: { maxTicksLimit: 12, precision: 0, callback: function (v) { return fmtElapsed(v); } } },
          y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle || '' }, ticks: { precision: integer ? 0 : undefined } },
        },
        plugins: {
          title: { display: true, text: title },
          legend: { position: 'top', align: 'end' },
          tooltip: {
            callbacks: {
              title: function (items) {
                if (!items.length) return '';
                var x = items[0].parsed.x;
                return fmtElapsed(x) + (charts && isNum(charts.t0) ? '  (' + fmtClock(charts.t0 + x) + ')' : '');
              },
            },
          },
        },
      },
    });
  }

  function initCharts() {
    if (typeof Chart === 'undefined') {
      setText('charts-note', 'Chart.js did not load: no charts.');
      return;
    }
    themeCharts();
    charts = {
      rps: makeChart($('chart-rps'), 'Requests per second',
        [{ label: 'RPS', color: '#2da44e' }, { label: 'Failures/s', color: '#e5534b' }], ''),
      times: makeChart($('chart-times'), 'Response times (ms)',
        [{ label: 'Median', color: '#4c8ef7' }, { label: '95th percentile', color: '#d29922' },
         { label: '99th percentile', color: '#a371f7' }], 'ms'),
      users: makeChart($('chart-users'), 'Number of users', [{ label: 'Users', color: '#8250df' }], '', true),
      t0: null,
      rows: [],
      key: null,
    };
    window.herdCharts = charts;
    themeCharts();
    if (window.matchMedia) {
      var mq = window.matchMedia('(prefers-color-scheme: dark)');
      var onChange = function () { themeCharts(); updateCharts(true); };
      if (mq.addEventListener) mq.addEventListener('change', onChange);
    }
  }

  /* The rows the charts show: the selected row's, or the test's Aggregated history. */
  function chartRows() {
    if (!S.row) return S.hist;
    return S.rowHist;
  }

  function series(rows, t0, field) {
    var out = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var v = rows[i][field];
      out[i] = { x: rows[i].time - t0, y: isNum(v) ? v : null };
    }
    return out;
  }

  /* draw: redraw now (the Charts tab is visible); else only the data is kept current. */
  function updateCharts(draw) {
    if (!charts) return;
    var rows = chartRows();
    var t0 = S.hist.length ? S.hist[0].time : (rows.length ? rows[0].time : null);
    charts.t0 = t0;
    charts.rows = rows;
    charts.key = S.row ? rowKey(S.row.method, S.row.name) : null;
    var fields = [[charts.rps, ['current_rps', 'current_fail_per_sec']],
                  [charts.times, ['response_time_percentile_50', 'response_time_percentile_95', 'response_time_percentile_99']],
                  [charts.users, ['user_count']]];
    var lastX = t0 !== null && rows.length ? rows[rows.length - 1].time - t0 : undefined;
    fields.forEach(function (cf) {
      cf[1].forEach(function (field, i) { cf[0].data.datasets[i].data = t0 === null ? [] : series(rows, t0, field); });
      cf[0].options.scales.x.max = lastX > 0 ? lastX : undefined;   // the axis ends with the data
      if (draw) cf[0].update('none');
    });
  }

  function renderChartsHeader() {
    var title = S.row ? ((S.row.method ? S.row.method + ' ' : '') + S.row.name) : 'Aggregated';
    setText('charts-title', title);
    $('charts-back').hidden = !S.row;
    var note = '';
    var rows = chartRows();
    if (S.rowNote)
      note = S.rowNote;
    else if (!rows.length)
      note = S.doc && (activeState(S.doc.state) || S.doc.state === 'waiting') ? 'Waiting for the first complete second…' : 'No history recorded.';
    else if (!REPORT && !S.row) note = rows.length + ' seconds';
    setText('charts-note', note);
  }

  function selectRow(r) {
    S.row = r ? { method: r.method || '', name: r.name } : null;
    S.rowNote = '';
    S.rowHist = [];
    S.rowFetchAt = 0;
    S.statsHtml = '';
    if (S.row && REPORT) {
      var rh = S.doc.row_history;
      if (rh) S.rowHist = rh[rowKey(S.row.method, S.row.name)] || [];
      else { S.row = null; S.rowNote = 'Per-row charts are not in this report (too many rows × seconds): these are the Aggregated ones.'; }
    }
    if (S.row && !REPORT) fetchRowHistory();
    renderStats(S.doc);
    showTab('charts');
  }

  function fetchRowHistory() {
    if (!S.row || S.rowFetching) return;
    var want = S.row;
    S.rowFetching = true;
    S.rowFetchAt = Date.now();
    getJson('api/history?method=' + encodeURIComponent(want.method) + '&name=' + encodeURIComponent(want.name))
      .then(function (d) {
        if (S.row && S.row.method === want.method && S.row.name === want.name) {
          S.rowHist = d.history || [];
          updateCharts(S.tab === 'charts');
          renderChartsHeader();
        }
      }).catch(function () {}).then(function () { S.rowFetching = false; });
  }

  /* ---- tabs ----------------------------------------------------------------------------- */

  var TABS = ['stats', 'charts', 'failures', 'ratio', 'workers', 'logs', 'download'];

  function tabAvailable(t) {
    if (!REPORT) return true;
    if (t === 'download') return false;
    if (t === 'logs') return !!(S.doc && S.doc.logs && S.doc.logs.length);
    if (t === 'ratio') return !!(S.doc && S.doc.ratio);
    return true;
  }

  function showTab(t) {
    if (TABS.indexOf(t) < 0 || !tabAvailable(t)) t = 'stats';
    S.tab = t;
    var btns = document.querySelectorAll('#tabs button');
    for (var i = 0; i < btns.length; i++) {
      var on = btns[i].dataset.tab === t;
      btns[i].classList.toggle('active', on);
      btns[i].setAttribute('aria-selected', on ? 'true' : 'false');
      btns[i].hidden = !tabAvailable(btns[i].dataset.tab);
    }
    TABS.forEach(function (name) { $('tab-' + name).hidden = name !== t; });
    if (location.hash !== '#' + t && history.replaceState) history.replaceState(null, '', '#' + t);
    if (S.doc) renderTab(S.doc, true);
  }

  function renderTab(doc, switched) {
    switch (S.tab) {
    case 'stats': renderStats(doc); break;
    case 'charts':
      renderChartsHeader();
      if (S.row && !REPORT && Date.now() - S.rowFetchAt > ROW_REFRESH_MS) fetchRowHistory();
      updateCharts(true);
      break;
    case 'failures': renderFailures(doc); break;
    case 'ratio': renderRatio(doc); break;
    case 'workers': renderWorkers(doc); break;
    case 'logs': renderLogs(switched); break;
    }
  }

  /* ---- applying a document -------------------------------------------------------------- */

  /* full: the document's history is the whole test's (api/state, the report); else it holds
     the last rows only (an event) and is merged into what the page has. */
  function mergeHistory(doc, full) {
    var rows = doc.history || [];
    var key = doc.start_time || null;
    if (key !== S.testKey) {
      S.testKey = key;
      S.hist = [];
      S.histOffset = 0;
      if (!full && rows.length) { refetchHistory(); }
    }
    if (full) {
      S.hist = rows.slice();
      S.histOffset = isNum(doc.history_total) ? doc.history_total - rows.length : 0;
      return;
    }
    var last = S.hist.length ? S.hist[S.hist.length - 1].time : -Infinity;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (r.time > last) { S.hist.push(r); last = r.time; continue; }
      for (var j = S.hist.length - 1; j >= 0 && S.hist[j].time >= r.time; j--)
        if (S.hist[j].time === r.time) { S.hist[j] = r; break; }
    }
    if (isNum(doc.history_total) && S.hist.length + S.histOffset !== doc.history_total) refetchHistory();
  }

  function refetchHistory() {
    if (S.histFetching) return;
    S.histFetching = true;
    var key = S.testKey;
    getJson('api/history').then(function (d) {
      if (S.testKey !== key) return;
      var rows = d.history || [];
      S.hist = rows;
      S.histOffset = isNum(d.total) ? d.total - rows.length : 0;
      updateCharts(S.tab === 'charts' && !S.row);
      if (S.tab === 'charts') renderChartsHeader();
    }).catch(function () {}).then(function () { S.histFetching = false; });
  }

  function apply(doc, full) {
    var first = !S.doc;
    S.doc = doc;
    if (!REPORT) {
      mergeHistory(doc, full);
      mergeLogs(doc.logs, full);
    }
    if (S.row && !REPORT) {
      var still = statsRows(doc).some(function (r) { return (r.method || '') === S.row.method && r.name === S.row.name; });
      if (!still && statsRows(doc).length) { S.row = null; S.rowHist = []; }
    }
    renderHeader(doc);
    renderButtons(doc);
    renderBanner(doc);
    renderForm(doc);
    renderCounts(doc);
    updateCharts(false);
    if (first) showTab(S.tab);
    else if (!$('main').hidden) renderTab(doc, false);
    var foot = 'herd ' + (doc.herd_version || '') + ' · ' +
      (REPORT ? 'report of the test that started ' + fmtDate(doc.start_time) :
        S.conn === 'sse' ? 'live (Server-Sent Events)' : S.conn === 'poll' ? 'live (polling every 2 s)' :
        S.conn === 'lost' ? 'disconnected' : 'connecting…');
    setText('foot', foot);
  }

  /* ---- the server ----------------------------------------------------------------------- */

  function getJson(url) {
    return fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    });
  }

  /* POST a form to the API: resolves to {success, message} whatever the status (a 400's
     message names the field that is wrong). */
  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields || {}).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(url, { method: 'POST', body: body, cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.text().then(function (text) {
          var d = null;
          try { d = JSON.parse(text); } catch (e) { d = null; }
          if (!d || typeof d !== 'object') d = { success: r.ok, message: r.ok ? '' : 'HTTP ' + r.status + (text ? ': ' + text.slice(0, 200) : '') };
          if (!r.ok) d.success = false;
          if (!d.success && !d.message) d.message = 'HTTP ' + r.status;
          return d;
        });
      }, function (e) { return { success: false, message: 'herd-master did not answer: ' + e.message }; });
  }

  function loadState() {
    return getJson('api/state').then(function (doc) {
      if (S.conn === 'lost') S.conn = S.polling ? 'poll' : S.es ? 'sse' : 'loading';
      apply(doc, true);
    }, function () {
      S.conn = 'lost';
      if (S.doc) apply(S.doc, false);
    });
  }

  function startPolling() {
    if (S.polling) return;
    S.polling = true;
    S.conn = 'poll';
    var tick = function () {
      getJson('api/state').then(function (doc) { S.conn = 'poll'; apply(doc, true); }, function () {
        S.conn = 'lost';
        if (S.doc) apply(S.doc, false);
      }).then(function () { setTimeout(tick, POLL_MS); });
    };
    setTimeout(tick, POLL_MS);
  }

  /* Events; after three errors in a row without an event (or a refused stream), polling. */
  function openEvents() {
    if (typeof EventSource === 'undefined') { startPolling(); return; }
    var es = new EventSource('api/events');
    var errors = 0;
    S.es = es;
    es.addEventListener('state', function (e) {
      errors = 0;
      S.conn = 'sse';
      var doc;
      try { doc = JSON.parse(e.data); } catch (err) { return; }
      apply(doc, false);
    });
    es.onerror = function () {
      errors++;
      if (errors >= 3 || es.readyState === EventSource.CLOSED) {
        es.close();
        S.es = null;
        startPolling();
      } else if (S.doc) {
        S.conn = 'lost';
        apply(S.doc, false);
      }
    };
  }

  /* ---- controls ------------------------------------------------------------------------- */

  function actionError(message) {
    S.actionError = message;
    S.actionErrorUntil = Date.now() + 8000;
    if (S.doc) renderBanner(S.doc);
    setTimeout(function () { if (S.doc) renderBanner(S.doc); }, 8100);
  }

  function refreshSoon() { setTimeout(function () { loadState(); }, 150); }

  function bindControls() {
    $('start-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var btn = $('f-start');
      if (btn.disabled) return;
      btn.dataset.busy = '1';
      btn.disabled = true;
      $('start-error').hidden = true;
      post('api/start', {
        user_count: $('f-users').value.trim(),
        spawn_rate: $('f-rate').value.trim(),
        host: $('f-host').value.trim(),
        run_time: $('f-runtime').value.trim(),
        stages: $('f-stages').value.trim(),
        tags: $('f-tags').value.trim(),
        exclude_tags: $('f-exclude').value.trim(),
      }).then(function (d) {
        btn.dataset.busy = '';
        if (!d.success) {
          $('start-error').textContent = d.message;
          $('start-error').hidden = false;
          if (S.doc) renderForm(S.doc);
          return;
        }
        S.showForm = false;
        S.row = null;
        S.rowHist = [];
        showTab('stats');
        refreshSoon();
      });
    });
    $('f-cancel').addEventListener('click', function () { S.showForm = false; if (S.doc) apply(S.doc, false); });
    $('btn-new').addEventListener('click', function () { S.showForm = true; S.formFilled = false; if (S.doc) apply(S.doc, false); });

    var dlg = $('edit-dialog');
    $('btn-edit').addEventListener('click', function () {
      var d = (S.doc && S.doc.defaults) || {};
      $('e-users').value = isNum(d.user_count) ? String(d.user_count) : String((S.doc && S.doc.user_count) || 1);
      $('e-rate').value = isNum(d.spawn_rate) ? String(d.spawn_rate) : '1';
      $('edit-error').hidden = true;
      if (dlg.showModal) dlg.showModal(); else dlg.setAttribute('open', '');
      $('e-users').focus();
      $('e-users').select();
    });
    $('e-cancel').addEventListener('click', function () { dlg.close(); });
    $('edit-form').addEventListener('submit', function (e) {
      e.preventDefault();
      $('e-apply').disabled = true;
      post('api/edit', { user_count: $('e-users').value.trim(), spawn_rate: $('e-rate').value.trim() }).then(function (d) {
        $('e-apply').disabled = false;
        if (!d.success) {
          $('edit-error').textContent = d.message;
          $('edit-error').hidden = false;
          return;
        }
        dlg.close();
        refreshSoon();
      });
    });
    $('btn-stop').addEventListener('click', function () {
      $('btn-stop').disabled = true;
      post('api/stop', {}).then(function (d) {
        $('btn-stop').disabled = false;
        if (!d.success) actionError('Stop: ' + d.message);
        refreshSoon();
      });
    });
    $('btn-reset').addEventListener('click', function () {
      post('api/reset', {}).then(function (d) {
        if (!d.success) actionError('Reset stats: ' + d.message);
        refreshSoon();
      });
    });
  }

  function bindView() {
    $('tabs').addEventListener('click', function (e) {
      var b = e.target.closest('button[data-tab]');
      if (b) showTab(b.dataset.tab);
    });
    $('stats-head').addEventListener('click', function (e) {
      var th = e.target.closest('th[data-key]');
      if (!th) return;
      var key = th.dataset.key;
      if (S.sort.key === key) S.sort.dir = -S.sort.dir;
      else { S.sort.key = key; S.sort.dir = COL_BY_KEY[key].text ? 1 : -1; }
      renderStatsHead();
      S.statsHtml = '';
      if (S.doc) renderStats(S.doc);
    });
    $('stats-body').addEventListener('click', function (e) {
      var tr = e.target.closest('tr[data-i]');
      if (tr && S.rendered[+tr.dataset.i]) selectRow(S.rendered[+tr.dataset.i]);
    });
    $('stats-foot').addEventListener('click', function (e) {
      if (e.target.closest('tr[data-agg]')) selectRow(null);
    });
    $('charts-back').addEventListener('click', function () { selectRow(null); });
    var scrollPending = false;
    $('stats-wrap').addEventListener('scroll', function () {
      if (scrollPending || S.rendered.length <= VIRTUAL_FROM) return;
      scrollPending = true;
      requestAnimationFrame(function () { scrollPending = false; renderStatsRows(); });
    });
    $('stats-filter').addEventListener('input', function () {
      S.filter = $('stats-filter').value.trim();
      if (S.doc) renderStats(S.doc);
    });
    ['pct-details', 'corr-details'].forEach(function (id) {
      $(id).addEventListener('toggle', function () { if (S.doc) renderStats(S.doc); });
    });
    $('log-level').addEventListener('change', function () {
      S.logsLevel = $('log-level').value;
      renderLogs(true);
    });
  }

  /* ---- start ---------------------------------------------------------------------------- */

  function main() {
    var hash = (location.hash || '').replace('#', '');
    if (TABS.indexOf(hash) >= 0) S.tab = hash;
    renderStatsHead();
    initCharts();
    bindView();
    if (REPORT) {
      var doc;
      try {
        doc = JSON.parse(dataEl.textContent);
      } catch (e) {
        $('banner').textContent = 'This report\'s data cannot be read: ' + e.message;
        $('banner').hidden = false;
        return;
      }
      doc.mode = 'report';
      S.hist = doc.history || [];
      S.logs = (doc.logs || []).slice();
      S.lastSeq = S.logs.length ? S.logs[S.logs.length - 1].seq : -1;
      $('main').hidden = false;
      apply(doc, true);
      return;
    }
    bindControls();
    loadState().then(openEvents);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
