// A small site: a JSX page, a template rendering Markdown, and static files from public/.
function Layout(props: { title: string; children?: KilnChild[] }) {
  return (
    <html>
      <head><title>{props.title}</title><link rel="stylesheet" href="/site.css" /></head>
      <body>{props.children}</body>
    </html>
  );
}

export function init() {
  registerWebHandler("GET", "/site", (req, ctx) => (
    <Layout title="Kiln site">
      <h1>Hello{ctx.user ? `, ${ctx.user.name ?? ctx.user.email}` : ""}</h1>
      <p>See <a href="/site/about">about</a>.</p>
    </Layout>
  ));

  registerWebHandler("GET", "/site/about", async () => {
    const body = await markdown("Kiln renders **Markdown** and <em>escapes</em> raw HTML.");
    const html = await render("templates/page.html", { title: "About", body });
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  });
}
