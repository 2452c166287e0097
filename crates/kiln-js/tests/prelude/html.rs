//! JSX rendering with `h` and `Fragment`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// h / Fragment

#[test]
fn jsx_rendering() {
    let h = Harness::new();
    h.check(
        r##"
        const r = (x) => String(x);
        assertEq(r(h("div", { className: "a\"b", id: "x'y" }, "<script>&")), `<div class="a&quot;b" id="x&#39;y">&lt;script&gt;&amp;</div>`);
        assertEq(r(h("label", { htmlFor: "f", hidden: true, disabled: false, title: null, onClick: () => 1 })), `<label for="f" hidden></label>`);
        assertEq(r(h("br", null)), "<br>");
        assertEq(r(h("img", { src: "/a.png", alt: "" }, "ignored")), `<img src="/a.png" alt="">`);
        assertEq(r(h("input", { type: "checkbox", checked: true })), `<input type="checkbox" checked>`);
        assertEq(r(h("p", { style: { backgroundColor: "red", fontSize: 12, "--custom": "v", WebkitTransition: "x", msTransform: "y", color: null } })),
          `<p style="background-color:red;font-size:12;--custom:v;-webkit-transition:x;-ms-transform:y"></p>`);
        assertEq(r(h("ul", null, [1, 2].map((i) => h("li", { key: i }, "item ", i)), null, false, true, undefined, 0)),
          "<ul><li>item 1</li><li>item 2</li>0</ul>");
        assertEq(r(h("div", { dangerouslySetInnerHTML: { __html: "<b>raw</b>" } })), "<div><b>raw</b></div>");
        assertEq(r(h("div", { "aria-hidden": true, "data-x": false })), `<div aria-hidden="true" data-x="false"></div>`);
        const inner = h("i", null, "<ok>");
        assertEq(r(h("b", null, inner, "<no>")), "<b><i>&lt;ok&gt;</i>&lt;no&gt;</b>");
        assertEq(r(h(Fragment, null, h("a", null), "t", [h("b", null)])), "<a></a>t<b></b>");
        function Card({ title, children }) { return h("section", null, h("h1", null, title), children); }
        assertEq(r(h(Card, { title: "T&" }, h("p", null, "one"), "two")), "<section><h1>T&amp;</h1><p>one</p>two</section>");
        function Text(props) { return "plain <" + props.children + ">"; }
        assertEq(r(h(Text, null, "x")), "plain &lt;x&gt;");
        assertEq(r(h("div", { children: "from props" })), "<div>from props</div>");
        assertEq(r(h("svg:rect", { "xlink:href": "#a" })), `<svg:rect xlink:href="#a"></svg:rect>`);
        assertEq(r(h("p", null, new Set(["a", "b"]))), "<p>ab</p>");
        assertEq(`${h("em", null, "x")}`, "<em>x</em>");
        assertEq(JSON.stringify({ html: h("em", null, "x") }), `{"html":"<em>x</em>"}`);
        assertThrows(() => h("div onclick=x", null), "TypeError");
        assertThrows(() => h("div", { "a b": 1 }), "TypeError");
        assertThrows(() => h(42, null), "TypeError");
        assertThrows(() => h(async () => 1, null), "TypeError");
        "##,
    );
}
