/** Names of every topic changeflow writes, in one place (docs/sources.md "Records"). */
export class TopicNames {
  constructor(readonly prefix: string) {}

  /** `<prefix>.<db>.<coll>`, or the source's own template with `{db}` and `{coll}` replaced. */
  change(db: string, coll: string, template?: string): string {
    if (template) return template.replaceAll('{db}', db).replaceAll('{coll}', coll).replaceAll('{prefix}', this.prefix);
    return `${this.prefix}.${db}.${coll}`;
  }

  /** DDL events of a database (`drop`, `rename`, `dropDatabase`) also go here. */
  ddl(db: string): string {
    return `${this.prefix}.${db}.__ddl`;
  }

  /** Source positions (resume tokens), compacted. */
  offsets(): string {
    return `${this.prefix}.__offsets`;
  }

  deadLetter(trigger: string): string {
    return `${this.prefix}.__dlq.${trigger}`;
  }

  audit(): string {
    return `${this.prefix}.audit`;
  }
}
