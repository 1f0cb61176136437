import { spawnSync } from 'node:child_process';
import { MissingPrerequisiteError } from '../errors.js';

function versionOf(command: string, args: string[]): string | null {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) return null;
  return `${result.stdout}${result.stderr}`;
}

/** Java 17+ runs Kafka 4 and mongo-java-server. Throws one clear message when it is missing or too old. */
export function requireJava(): void {
  const out = versionOf('java', ['-version']);
  if (out === null) {
    throw new MissingPrerequisiteError(
      'Java was not found on PATH. The local Kafka and MongoDB-compatible servers need Java 17 or newer: ' +
        'install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`), or point changeflow at your own servers with KAFKA_BROKERS and MONGODB_URI.',
    );
  }
  const match = /version "(\d+)/.exec(out);
  const major = match?.[1] ? Number(match[1]) : 0;
  if (major < 17) {
    throw new MissingPrerequisiteError(
      `Java ${major || 'of unknown version'} was found, but Kafka 4 needs Java 17 or newer. Install a newer JDK or set KAFKA_BROKERS and MONGODB_URI.`,
    );
  }
}

export function requireMaven(): void {
  if (versionOf('mvn', ['-v']) === null) {
    throw new MissingPrerequisiteError(
      'Maven (`mvn`) was not found on PATH. changeflow resolves the Kafka and mongo-java-server jars from Maven Central with it: ' +
        'install it (Debian/Ubuntu: `apt-get install maven`), or set KAFKA_BROKERS and MONGODB_URI to use servers you run yourself.',
    );
  }
}
