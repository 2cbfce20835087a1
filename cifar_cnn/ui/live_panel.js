// The Train page's live panels (cifar_cnn/ui/live_panel.py): they draw what the server's live feed
// (cifar_cnn/live_feed.py) pushes, and ask Streamlit for a rerun only when the page must change.
// Every text here comes from the server and is set as text, never as HTML: class names are a dataset author's.

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 280, MARGIN = {left: 58, right: 14, top: 30, bottom: 38};
const BLUE = 'rgb(31,119,180)', FAINT_BLUE = 'rgba(31,119,180,0.3)', ORANGE = 'rgb(255,127,14)';
const RERUN_AGAIN_MS = 3000;  // one rerun at a time: the page redraws, then says what it drew

// One stream per tab for every panel on it (a browser opens at most 6 connections to a server).
const hub = {source: null, url: '', panels: new Set(), lastId: '', base: '', queue: undefined, recheckTimer: 0};

// Asks for one rerun at a time: two fragments asking at once confuse Streamlit (it reruns only one of them).
function recheck() {
  clearTimeout(hub.recheckTimer);
  const stale = [...hub.panels].filter(panel => panel.stale());
  if (!stale.length) return;
  stale[0].rerun();
  hub.recheckTimer = setTimeout(recheck, RERUN_AGAIN_MS);
}

function followedJobs() {
  return [...new Set([...hub.panels].map(panel => panel.data.job).filter(Boolean))].sort();
}

function connect() {
  const jobs = followedJobs();
  const url = hub.base + '?' + jobs.map(job => 'job=' + encodeURIComponent(job)).join('&');
  if (hub.source && hub.url === url && hub.source.readyState !== EventSource.CLOSED) return;  // a closed one: try again
  if (hub.source) hub.source.close();
  hub.url = url;
  hub.source = null;
  if (!hub.panels.size) return;
  // A new set of jobs: name the updates already seen of the ones kept, so that only what changed comes.
  const source = new EventSource(url + (hub.lastId ? '&seen=' + encodeURIComponent(hub.lastId) : ''));
  hub.source = source;
  source.onmessage = event => {
    hub.lastId = event.lastEventId;
    const updates = JSON.parse(event.data);
    if (updates['']) hub.queue = updates[''].queue;
    for (const panel of hub.panels) {
      const update = panel.data.job && updates[panel.data.job];
      if (update) panel.receive(update);
    }
    recheck();
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && hub.source === source) {
      for (const panel of hub.panels) panel.lost();
    }
  };
}

function element(tag, className, parent, namespace) {
  const made = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  if (className) made.setAttribute('class', className);
  if (parent) parent.appendChild(made);
  return made;
}

function niceTicks(low, high, count) {
  const span = high - low || 1;
  const step0 = span / count, power = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * power).find(s => s >= step0);
  const ticks = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) ticks.push(+value.toFixed(10));
  return ticks;
}

class Chart {
  constructor(parent) {
    this.box = element('figure', 'cc-chart', parent);
    this.svg = element('svg', '', this.box, SVG);
    this.svg.setAttribute('role', 'img');
    this.title = element('text', 'cc-title', this.svg, SVG);
    this.title.setAttribute('x', MARGIN.left);
    this.title.setAttribute('y', 18);
    this.grid = element('g', 'cc-grid', this.svg, SVG);
    this.yTitle = element('text', 'cc-axis-title', this.svg, SVG);
    this.yTitle.setAttribute('transform', `translate(14 ${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}) rotate(-90)`);
    this.xTitle = element('text', 'cc-axis-title', this.svg, SVG);
    this.xTitle.setAttribute('y', HEIGHT - 4);
    this.xTitle.textContent = 'epoch';
    this.lines = ['batch', 'smoothed', 'validation'].map(name => {
      const line = element('polyline', 'cc-line-' + name, this.svg, SVG);
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', {batch: FAINT_BLUE, smoothed: BLUE, validation: ORANGE}[name]);
      line.setAttribute('stroke-width', name === 'batch' ? 1 : 2);
      return line;
    });
    this.markers = element('g', '', this.svg, SVG);
    // Where the pointer is: the batch under it and its values (the markers' own tooltips give each epoch's).
    this.hover = element('g', 'cc-hover', this.svg, SVG);
    this.hover.setAttribute('visibility', 'hidden');
    this.guide = element('line', '', this.hover, SVG);
    this.guide.setAttribute('y1', MARGIN.top); this.guide.setAttribute('y2', HEIGHT - MARGIN.bottom);
    this.readout = element('text', 'cc-readout', this.hover, SVG);
    this.readout.setAttribute('y', 18);
    this.svg.addEventListener('pointermove', event => { this.pointer = event; this.showHover(); });
    this.svg.addEventListener('pointerleave', () => { this.pointer = null; this.showHover(); });
    this.legend = element('figcaption', 'cc-legend', this.box);
  }

  showHover() {
    const series = this.series, xs = series ? series.batch_x : [];
    if (!this.pointer || !xs.length) { this.hover.setAttribute('visibility', 'hidden'); return; }
    const box = this.svg.getBoundingClientRect();
    const drawnX = (this.pointer.clientX - box.left) * this.width / box.width;
    const epochs = (drawnX - MARGIN.left) / (this.width - MARGIN.left - MARGIN.right) * this.right;
    let nearest = 0;
    xs.forEach((value, index) => { if (Math.abs(value - epochs) < Math.abs(xs[nearest] - epochs)) nearest = index; });
    const shown = value => value === null ? 'none' : series.percent ? (value * 100).toFixed(1) + '%' : value.toFixed(3);
    const at = this.x(xs[nearest]);
    this.guide.setAttribute('x1', at); this.guide.setAttribute('x2', at);
    this.readout.setAttribute('x', this.width - MARGIN.right);  // on the title's line, at the right: over no curve
    this.readout.textContent = `epoch ${xs[nearest].toFixed(2)}: batch ${shown(series.batch_y[nearest])}, ` +
      `smoothed ${shown(series.smoothed_y[nearest])}`;
    this.hover.setAttribute('visibility', 'visible');
  }

  draw(series) {
    if (this.measured === undefined) {
      // Drawn at its size, so that its text stays the page's size. Measured on resizes only: reading a size forces a
      // layout of the whole page, which at each update cost more than the drawing.
      this.measured = this.box.clientWidth;
      new ResizeObserver(entries => { this.measured = entries[0].contentRect.width; }).observe(this.box);
    }
    const WIDTH = Math.max(240, Math.round(this.measured || 460));
    if (WIDTH !== this.width) {
      this.width = WIDTH;
      this.svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
      this.xTitle.setAttribute('x', (MARGIN.left + WIDTH - MARGIN.right) / 2);
    }
    this.title.textContent = series.title;
    this.yTitle.textContent = series.y_title;
    if (!this.legend.childElementCount) {
      for (const [name, colour] of [['batch', FAINT_BLUE], ['smoothed', BLUE], ['epoch', BLUE], ['validation', ORANGE]]) {
        const item = element('span', 'cc-legend-item', this.legend);
        element('span', 'cc-swatch cc-swatch-' + name, item).style.background = colour;
        item.appendChild(document.createTextNode(series.names[name]));
      }
    }
    const values = [...series.batch_y, ...series.epoch_y, ...series.validation_y].filter(v => v !== null);
    const xs = [...series.batch_x, ...series.epoch_x];
    let low = values.length ? Math.min(...values) : 0, high = values.length ? Math.max(...values) : 1;
    if (series.percent) { low = Math.max(0, low); high = Math.min(1, high); }
    // Axes end on whole ticks and whole epochs: they (and the grid) change seldom, not at each update.
    const step = niceTicks(low, high, 5)[1] - niceTicks(low, high, 5)[0] || 0.1;
    low = Math.floor(low / step - 0.25) * step; high = Math.ceil(high / step + 0.25) * step;
    if (series.percent) { low = Math.max(0, low); high = Math.min(1.02, high); }
    const right = Math.max(1, Math.ceil(Math.max(...xs, 0) - 1e-9));
    const x = value => MARGIN.left + value / right * (WIDTH - MARGIN.left - MARGIN.right);
    const y = value => HEIGHT - MARGIN.bottom - (value - low) / (high - low) * (HEIGHT - MARGIN.top - MARGIN.bottom);
    const yTicks = niceTicks(low, high, 5), xTicks = niceTicks(0, right, 6).filter(t => Number.isInteger(t) || right < 2);
    const gridKey = [WIDTH, low, high, right].join(' ');
    if (gridKey !== this.gridKey) this.drawGrid(gridKey, yTicks, xTicks, x, y, series.percent);
    const points = (xValues, yValues) => xValues.map((value, i) => yValues[i] === null ? '' :
      `${x(value).toFixed(1)},${y(yValues[i]).toFixed(1)}`).filter(Boolean).join(' ');
    this.lines[0].setAttribute('points', points(series.batch_x, series.batch_y));
    this.lines[1].setAttribute('points', points(series.batch_x, series.smoothed_y));
    this.lines[2].setAttribute('points', points(series.epoch_x, series.validation_y));
    const markersKey = gridKey + ' ' + series.epoch_x.length;
    if (markersKey !== this.markersKey) this.drawMarkers(markersKey, series, x, y);
    this.series = series; this.x = x; this.right = right;
    if (this.pointer) this.showHover();
  }

  drawGrid(gridKey, yTicks, xTicks, x, y, percent) {
    this.gridKey = gridKey;
    this.grid.replaceChildren();
    for (const tick of yTicks) {
      const line = element('line', '', this.grid, SVG);
      line.setAttribute('x1', MARGIN.left); line.setAttribute('x2', this.width - MARGIN.right);
      line.setAttribute('y1', y(tick)); line.setAttribute('y2', y(tick));
      const label = element('text', 'cc-tick cc-tick-y', this.grid, SVG);
      label.setAttribute('x', MARGIN.left - 6); label.setAttribute('y', y(tick) + 4);
      label.textContent = percent ? Math.round(tick * 100) + '%' : +tick.toFixed(3);
    }
    for (const tick of xTicks) {
      const label = element('text', 'cc-tick cc-tick-x', this.grid, SVG);
      label.setAttribute('x', x(tick)); label.setAttribute('y', HEIGHT - MARGIN.bottom + 16);
      label.textContent = tick;
    }
  }

  drawMarkers(markersKey, series, x, y) {
    this.markersKey = markersKey;
    this.markers.replaceChildren();
    series.epoch_x.forEach((epoch, i) => {
      for (const [value, colour, name, shape] of [[series.epoch_y[i], BLUE, series.names.epoch, 'diamond'],
                                                  [series.validation_y[i], ORANGE, series.names.validation, 'circle']]) {
        if (value === null) continue;
        const marker = element('path', '', this.markers, SVG);
        const cx = x(epoch), cy = y(value);
        marker.setAttribute('d', shape === 'diamond' ? `M${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}L${cx - 6},${cy}Z`
          : `M${cx - 4.5},${cy}a4.5,4.5 0 1,0 9,0a4.5,4.5 0 1,0 -9,0`);
        marker.setAttribute('fill', colour);
        element('title', '', marker, SVG).textContent =
          `${name}, epoch ${epoch}: ${series.percent ? (value * 100).toFixed(1) + '%' : value.toFixed(3)}`;
      }
    });
  }
}

class Panel {
  constructor(root) {
    this.root = root;
    this.data = null;
    this.askedAt = 0;
  }

  mount(data, setTriggerValue) {
    const first = !this.data;
    this.data = data;
    this.setTriggerValue = setTriggerValue;
    this.due = false;
    if (first && data.mode === 'training') this.build();
    if (data.mode === 'training') this.drawWatchSet(this.lastUpdate && this.lastUpdate.watch);
    if (this.lastUpdate) this.receive(this.lastUpdate);
    // After a click on Train or Stop: the progress line and the curves come into view (the button was below the fold).
    if (data.scroll) setTimeout(() => this.root.scrollIntoView({behavior: 'smooth', block: 'center'}), 50);
    clearTimeout(this.refreshTimer);
    if (data.refresh_after_s) this.refreshTimer = setTimeout(() => { this.due = true; recheck(); }, data.refresh_after_s * 1000);
  }

  // Whether the page shows something older than the feed: a job started, ended or is stopping; the queue moved.
  stale() {
    const drawn = this.data.drawn, update = this.lastUpdate;
    if (this.data.mode === 'watch') return this.due || (hub.queue !== undefined && hub.queue !== drawn.queue);
    return Boolean(update) && (Boolean(update.gone) || update.state !== drawn.state || Boolean(update.stopping) !== drawn.stopping);
  }

  build() {
    this.root.classList.add('cc-training');
    const progress = element('div', 'cc-progress', this.root);
    progress.setAttribute('role', 'progressbar');
    this.bar = element('div', 'cc-bar', progress);
    this.line = element('p', 'cc-progress-line', this.root);
    this.line.textContent = this.data.starting;
    this.note = element('p', 'cc-note', this.root);
    this.charts = {loss: new Chart(this.root), accuracy: new Chart(this.root)};
    const watch = element('section', 'cc-watch', this.root);
    this.watchHeading = element('p', 'cc-watch-heading', watch);
    this.watchGrid = element('div', 'cc-watch-grid', watch);
  }

  rerun() {
    if (Date.now() - this.askedAt < RERUN_AGAIN_MS) return;
    this.askedAt = Date.now();
    this.setTriggerValue('changed', this.askedAt);
  }

  receive(update) {
    this.lastUpdate = update;
    if (document.hidden) return;  // a tab in the background draws when it comes back (see below)
    if (this.data.mode !== 'training' || update.state !== 'running') return;
    this.bar.style.width = (100 * update.fraction).toFixed(1) + '%';
    this.line.textContent = update.line;
    this.charts.loss.draw(update.charts.loss);
    this.charts.accuracy.draw(update.charts.accuracy);
    this.drawWatchSet(update.watch);
  }

  lost() {
    if (this.note) this.note.textContent = this.data.lost;
  }

  drawWatchSet(guesses) {
    const set = this.data.watch_set;
    const key = guesses ? guesses.epoch : 0;
    if (this.watchDrawn === key && this.watchData === set) return;
    this.watchDrawn = key; this.watchData = set;
    if (!set.pictures) {
      this.watchHeading.textContent = set.message;
      this.watchGrid.replaceChildren();
      return;
    }
    const mismatch = guesses && (guesses.indices.length !== set.indices.length ||
      guesses.indices.some((index, slot) => index !== set.indices[slot] || guesses.labels[slot] !== set.truths[slot]));
    if (mismatch) {
      this.watchHeading.textContent = set.mismatch;
      this.watchGrid.replaceChildren();
      return;
    }
    const name = label => set.names[label] === undefined ? String(label) : set.names[label];
    const right = guesses ? guesses.predicted.filter((label, slot) => label === guesses.labels[slot]).length : 0;
    this.watchHeading.textContent = guesses ? `After epoch ${guesses.epoch}: ${right} of ${set.indices.length} right. ${set.explanation}`
      : set.before_first;
    const figures = set.pictures.map((picture, slot) => {
      const figure = element('figure', 'cc-watch-item');
      const image = element('img', '', figure);
      image.src = picture;
      image.alt = name(set.truths[slot]);
      const caption = element('figcaption', '', figure);
      if (!guesses) {
        caption.textContent = name(set.truths[slot]);
      } else {
        const guessed = guesses.predicted[slot], truth = set.truths[slot];
        figure.classList.add(guessed === truth ? 'cc-right' : 'cc-wrong');
        caption.textContent = guessed === truth ? `✓ ${name(guessed)}` : `✗ ${name(guessed)} (is ${name(truth)})`;
      }
      return figure;
    });
    this.watchGrid.replaceChildren(...figures);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) for (const panel of hub.panels) if (panel.lastUpdate) panel.receive(panel.lastUpdate);
});

export default function ({data, parentElement, setTriggerValue}) {
  const root = parentElement.querySelector('.cc-live');
  const panel = root.ccPanel || (root.ccPanel = new Panel(root));
  panel.mount(data, setTriggerValue);
  hub.base = data.feed;
  hub.panels.add(panel);
  connect();
  recheck();
  return () => {
    clearTimeout(panel.refreshTimer);
    setTimeout(() => {  // after this rerun's panels have mounted: a panel still on the page keeps its place
      for (const shown of hub.panels) if (!shown.root.isConnected) hub.panels.delete(shown);
      connect();
    }, 0);
  };
}
