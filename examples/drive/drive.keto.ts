// A Google-Drive-style model in the Ory Permission Language. The same model in the OpenFGA DSL is drive.fga;
// both run the same tests (drive.opl.fga.yaml and drive.fga.yaml).
import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class user implements Namespace {}

class group implements Namespace {
  related: {
    member: (user | SubjectSet<group, "member">)[]
  }
}

class folder implements Namespace {
  related: {
    parent: folder[]
    owners: (user | SubjectSet<group, "member">)[]
    editors: (user | SubjectSet<group, "member">)[]
    viewers: (user | SubjectSet<group, "member">)[]
  }

  permits = {
    own: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.parent.traverse((p) => p.permits.own(ctx)),

    edit: (ctx: Context): boolean =>
      this.related.editors.includes(ctx.subject) ||
      this.permits.own(ctx) ||
      this.related.parent.traverse((p) => p.permits.edit(ctx)),

    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parent.traverse((p) => p.permits.view(ctx)),
  }
}

class document implements Namespace {
  related: {
    parent: folder[]
    owners: user[]
    editors: (user | SubjectSet<group, "member">)[]
    viewers: (user | SubjectSet<group, "member">)[]
    commenters: (user | SubjectSet<group, "member">)[]
    blocked: user[]
  }

  permits = {
    own: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.parent.traverse((p) => p.permits.own(ctx)),

    // Keto folds || and && left to right, so this reads (editors || own || parent edit) && !blocked,
    // the same as the parenthesised form; written with parentheses to be clear in TypeScript too.
    edit: (ctx: Context): boolean =>
      (this.related.editors.includes(ctx.subject) ||
        this.permits.own(ctx) ||
        this.related.parent.traverse((p) => p.permits.edit(ctx))) &&
      !this.related.blocked.includes(ctx.subject),

    view: (ctx: Context): boolean =>
      (this.related.viewers.includes(ctx.subject) ||
        this.permits.edit(ctx) ||
        this.related.parent.traverse((p) => p.permits.view(ctx))) &&
      !this.related.blocked.includes(ctx.subject),

    comment: (ctx: Context): boolean =>
      this.related.commenters.includes(ctx.subject) && this.permits.view(ctx),
  }
}
