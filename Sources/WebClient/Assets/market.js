// The marketplace: browse, search, filter and sort apps; an app's page with stats and reviews;
// install; write or edit your review; publish a project.
import { api, session, query } from "./api.js";
import { h, append, clear, field, notice, formatTime } from "./dom.js";
import { describe, go, recentProjects } from "./app.js";

export function price(app) {
  const cents = app.price_cents ?? app.price_minor ?? 0;
  if (!cents) return "Free";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: app.currency || "USD" }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${app.currency || ""}`;
  }
}

/** The first defined field among `names`, looked up on the app and on its `stats` object. */
function stat(app, ...names) {
  for (const name of names) {
    if (app[name] !== undefined && app[name] !== null) return app[name];
    if (app.stats && app.stats[name] !== undefined && app.stats[name] !== null) return app.stats[name];
  }
  return undefined;
}
const rating = (app) => stat(app, "rating", "average_rating", "rating_average");
const installs = (app) => stat(app, "downloads", "installs", "install_count") ?? 0;
const reviewCount = (app) => stat(app, "review_count", "reviews_count", "rating_count") ?? 0;

function stars(rating) {
  if (typeof rating !== "number") return "no ratings";
  const full = Math.round(rating);
  return `${"★".repeat(full)}${"☆".repeat(Math.max(0, 5 - full))} ${rating.toFixed(1)}`;
}

export function marketView(params) {
  const status = notice();
  const form = h("form", { class: "filters", role: "search" });
  const q = field("Search", { type: "search", name: "q", value: params.get("q") || "" });
  const category = field("Category", { name: "category", value: params.get("category") || "", placeholder: "any" });
  const priceSel = field("Price", { name: "price", value: params.get("price") || "",
    options: [["", "Any price"], ["free", "Free"], ["paid", "Paid"]] }, "select");
  const sort = field("Sort by", { name: "sort", value: params.get("sort") || "rating",
    options: [["rating", "Rating"], ["downloads", "Downloads"], ["newest", "Newest"]] }, "select");
  form.append(q.wrap, category.wrap, priceSel.wrap, sort.wrap, h("button", { type: "submit", id: "market-search" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // A search is ranked by relevance: the server refuses a sort beside q.
    const text = q.input.value.trim();
    go(`#/market${query({ q: text, category: category.input.value.trim(), price: priceSel.input.value, sort: text ? "" : sort.input.value })}`);
  });
  const results = h("ul", { class: "apps", "aria-label": "Apps" });
  const more = h("button", { type: "button", hidden: true }, "More apps");
  let cursor = null;
  async function load() {
    try {
      const page = await api("GET", `/apps${query({ q: params.get("q"), category: params.get("category"), price: params.get("price"),
        sort: params.get("q") ? null : params.get("sort"), cursor })}`);
      if (!page.items.length && !cursor) results.append(h("li", { class: "muted" }, "No apps match."));
      for (const app of page.items) results.append(appCard(app));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) { status.show(describe(error, "Browsing the marketplace")); }
  }
  more.addEventListener("click", load);
  load();
  return h("section", {}, h("h1", {}, "Marketplace"), form, status, results, more);
}

function appCard(app) {
  return h("li", { class: "app-card" },
    h("h2", {}, h("a", { href: `#/market/${encodeURIComponent(app.id)}` }, app.name)),
    h("p", {}, app.description || ""),
    h("p", { class: "muted small" }, [app.category, price(app), stars(rating(app)), `${installs(app)} installs`]
      .filter(Boolean).join(" · ")));
}

export function appView(id) {
  const status = notice();
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const title = h("h1", {}, "App");
  (async () => {
    let app;
    try { app = await api("GET", `/apps/${encodeURIComponent(id)}`); }
    catch (error) { clear(body); status.show(describe(error, "Opening the app")); return; }
    title.textContent = app.name || "App";
    document.title = `${app.name || "App"} · BuilderAI`;
    const install = h("button", { type: "button", id: "install" }, price(app) !== "Free" ? `Install (${price(app)})` : "Install");
    install.addEventListener("click", async () => {
      status.clear();
      try {
        const result = await api("POST", `/apps/${encodeURIComponent(id)}/install`, {});
        status.show(`Installed${result && result.project_id ? ` as project ${result.project_id}` : ""}.`, "ok");
        refreshStats();
      } catch (error) { status.show(describe(error, "Could not install")); }
    });
    const stats = h("dl", { class: "stats" });
    const showStats = (app) => append(clear(stats), [
      h("dt", {}, "Rating"), h("dd", {}, stars(rating(app))),
      h("dt", {}, "Reviews"), h("dd", {}, String(reviewCount(app))),
      h("dt", {}, "Installs"), h("dd", {}, String(installs(app))),
      h("dt", {}, "Price"), h("dd", {}, price(app)),
      h("dt", {}, "Version"), h("dd", {}, app.version || "—"),
      h("dt", {}, "Category"), h("dd", {}, app.category || "—")]);
    // After an install or a review the counts change: read them again rather than guess.
    const refreshStats = async () => {
      try { showStats(await api("GET", `/apps/${encodeURIComponent(id)}`)); } catch { /* the old numbers stay */ }
    };
    showStats(app);
    const reviews = h("ul", { class: "reviews", "aria-label": "Reviews" });
    const mine = reviewForm(id, status, () => { loadReviews(); refreshStats(); });
    async function loadReviews() {
      clear(reviews);
      try {
        const page = await api("GET", `/apps/${encodeURIComponent(id)}/reviews`);
        if (!page.items.length) reviews.append(h("li", { class: "muted" }, "No reviews yet."));
        for (const review of page.items) {
          const author = review.user || review.author || {};
          const own = (review.user_id ?? author.id) === session.user?.id || review.mine === true;
          if (own) mine.fill(review);
          reviews.append(h("li", { class: "review" }, h("p", {}, h("strong", {}, stars(review.rating)), " ",
            author.name || review.user_name || "someone", own ? " (you)" : "",
            h("span", { class: "muted small" }, ` ${formatTime(review.updated_at || review.created_at)}`)),
          h("p", {}, review.text ?? review.body ?? "")));
        }
      } catch (error) { reviews.append(h("li", { class: "notice error" }, describe(error, "Loading reviews"))); }
    }
    loadReviews();
    append(clear(body), [h("p", {}, app.description || ""),
      (app.tags || []).length ? h("p", { class: "muted" }, `Tags: ${app.tags.join(", ")}`) : null,
      stats, install, h("h2", {}, "Reviews"), reviews, mine.element]);
  })();
  return h("section", {}, h("p", {}, h("a", { href: "#/market" }, "← Marketplace")), title, status, body);
}

function reviewForm(id, status, reload) {
  const element = h("form", { class: "card", "aria-labelledby": "review-title" });
  const heading = h("h2", { id: "review-title" }, "Your review");
  const rating = field("Rating", { name: "rating", value: "5", options: [5, 4, 3, 2, 1].map((n) => [String(n), `${n} star${n > 1 ? "s" : ""}`]) }, "select");
  const text = field("Review", { name: "review-text", rows: 4, maxlength: 4000 }, "textarea");
  const remove = h("button", { type: "button", class: "danger", hidden: true }, "Delete my review");
  element.append(heading, rating.wrap, text.wrap, h("div", { class: "row" }, h("button", { type: "submit" }, "Save review"), remove));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try {
      await api("PUT", `/apps/${encodeURIComponent(id)}/reviews/mine`, { rating: Number(rating.input.value), text: text.input.value });
      status.show("Review saved.", "ok");
      reload();
    } catch (error) { status.show(describe(error, "Could not save the review")); }
  });
  remove.addEventListener("click", async () => {
    try {
      await api("DELETE", `/apps/${encodeURIComponent(id)}/reviews/mine`);
      text.input.value = "";
      remove.hidden = true;
      heading.textContent = "Your review";
      reload();
    } catch (error) { status.show(describe(error, "Could not delete the review")); }
  });
  return {
    element,
    fill(review) {
      rating.input.value = String(review.rating);
      text.input.value = review.text ?? review.body ?? "";
      heading.textContent = "Edit your review";
      remove.hidden = false;
    },
  };
}

export function publishView(projectID) {
  const status = notice();
  const form = h("form", { class: "card" });
  const project = field("Project id", { name: "project_id", required: true, value: projectID,
    list: "recent-projects" });
  const datalist = h("datalist", { id: "recent-projects" }, ...recentProjects().map((p) => h("option", { value: p.id }, p.name)));
  const name = field("App name", { name: "name", required: true, maxlength: 100 });
  const description = field("Description", { name: "description", rows: 4, required: true }, "textarea");
  // The server's fixed list (MarketplaceRoutes.categories).
  const category = field("Category", { name: "category", required: true, value: "productivity",
    options: ["productivity", "developer-tools", "education", "games", "business", "other"].map((c) => [c, c]) }, "select");
  const tags = field("Tags (comma separated)", { name: "tags" });
  const priceInput = field("Price (0 for free)", { name: "price", type: "number", min: "0", step: "0.01", value: "0" });
  const currency = field("Currency", { name: "currency", value: "USD", maxlength: 3 });
  const version = field("Version", { name: "version", value: "1.0.0", required: true });
  form.append(project.wrap, datalist, name.wrap, description.wrap, category.wrap, tags.wrap, priceInput.wrap, currency.wrap,
    version.wrap, h("button", { type: "submit" }, "Publish"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try {
      const app = await api("POST", "/apps", {
        project_id: project.input.value.trim(), name: name.input.value.trim(), description: description.input.value,
        category: category.input.value.trim(), tags: tags.input.value.split(",").map((t) => t.trim()).filter(Boolean),
        price_cents: Math.round(Number(priceInput.input.value || 0) * 100), currency: currency.input.value.trim().toUpperCase(),
        version: version.input.value.trim(),
      });
      go(`#/market/${encodeURIComponent(app.id)}`);
    } catch (error) { status.show(describe(error, "Could not publish")); }
  });
  return h("section", {}, h("h1", {}, "Publish a project"), status, form);
}
