"""The ``audit-event`` and ``audit-event-table`` directives for the
standalone build of these pages (conf.py); upstream's Doc/ has its own,
with the same syntax, so the pages build in either tree::

   .. audit-event:: NAME ARGUMENT,ARGUMENT [TARGET]

      What raises it (optional: without a body, one sentence naming the
      event and its arguments).

records the event with the page it is on, at an anchor of its own (or at
TARGET, the ID of an object the page describes); ``.. audit-event-table::``
lists every recorded event with its arguments and links to those places.
"""

from docutils import nodes
from sphinx.errors import NoUri
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective


def recorded(env):
    """The recorded events, (name, arguments, docname, anchor) each."""
    if not hasattr(env, "sandbox_audit_events"):
        env.sandbox_audit_events = []
    return env.sandbox_audit_events


class AuditEvent(SphinxDirective):
    has_content = True
    required_arguments = 1
    optional_arguments = 2
    final_argument_whitespace = True

    def run(self):
        name = self.arguments[0]
        arguments = []
        if len(self.arguments) > 1:
            arguments = [a.strip() for a in
                         self.arguments[1].strip("\"'").split(",")
                         if a.strip()]
        events = recorded(self.env)
        ids = []
        target = (self.arguments[2].strip("\"'")
                  if len(self.arguments) > 2 else "")
        if not target:
            seen = sum(1 for e in events if e[0] == name)
            target = nodes.make_id(f"audit-event-{name}-{seen}")
            ids.append(target)
        events.append((name, tuple(arguments), self.env.docname, target))

        node = nodes.container(classes=["audit-hook"], ids=ids)
        self.set_source_info(node)
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, node)
        else:
            sentence = nodes.paragraph(
                "", "Raises an auditing event ", nodes.literal(name, name))
            if arguments:
                sentence += nodes.Text(" with arguments "
                                       if len(arguments) > 1
                                       else " with argument ")
                for n, argument in enumerate(arguments):
                    if n:
                        sentence += nodes.Text(", ")
                    sentence += nodes.literal(argument, argument)
            else:
                sentence += nodes.Text(" with no arguments")
            sentence += nodes.Text(".")
            node += sentence
        return [node]


class audit_event_table(nodes.General, nodes.Element):
    """Where the table goes, once every page has been read."""


class AuditEventTable(SphinxDirective):
    def run(self):
        return [audit_event_table()]


class FillAuditEventTables(SphinxPostTransform):
    default_priority = 500

    def run(self):
        for placeholder in list(self.document.findall(audit_event_table)):
            placeholder.replace_self(self.table())

    def table(self):
        group = nodes.tgroup("", cols=3)
        for width in (30, 50, 20):
            group += nodes.colspec(colwidth=width)
        group += nodes.thead("", self.row(
            [nodes.Text("Audit event")], [nodes.Text("Arguments")],
            [nodes.Text("References")]))
        body = nodes.tbody()
        group += body
        by_name = {}
        for name, arguments, docname, anchor in recorded(self.env):
            entry = by_name.setdefault(name, (arguments, []))
            entry[1].append((docname, anchor))
        for name in sorted(by_name):
            arguments, places = by_name[name]
            listed = []
            for argument in arguments:
                listed += [nodes.literal(argument, argument), nodes.Text(", ")]
            links = []
            for n, (docname, anchor) in enumerate(sorted(places), 1):
                try:
                    uri = self.app.builder.get_relative_uri(
                        self.env.docname, docname)
                except NoUri:
                    continue
                links += [nodes.reference("", f"[{n}]", internal=True,
                                          refuri=f"{uri}#{anchor}"),
                          nodes.Text(" ")]
            body += self.row([nodes.Text(name)], listed[:-1], links[:-1])
        return nodes.table("", group, classes=["audit-event-table"])

    @staticmethod
    def row(*cells):
        return nodes.row("", *(nodes.entry("", nodes.paragraph("", "", *c))
                               for c in cells))


def forget_page(app, env, docname):
    recorded(env)[:] = [e for e in recorded(env) if e[2] != docname]


def merge_from_worker(app, env, docnames, other):
    recorded(env).extend(e for e in recorded(other) if e[2] in docnames)


def setup(app):
    app.add_directive("audit-event", AuditEvent)
    app.add_directive("audit-event-table", AuditEventTable)
    app.add_post_transform(FillAuditEventTables)
    app.connect("env-purge-doc", forget_page)
    app.connect("env-merge-info", merge_from_worker)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
