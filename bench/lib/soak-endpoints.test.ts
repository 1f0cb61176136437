import { mongoTarget, parseHostPort, proxiedMongoUri } from './soak-endpoints.js';

describe('soak endpoints', () => {
  it('parses host:port', () => {
    expect(parseHostPort('127.0.0.1:9092', '--kafka')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseHostPort('[::1]:9092', '--kafka')).toEqual({ host: '::1', port: 9092 });
    expect(() => parseHostPort('localhost', '--kafka')).toThrow(/--kafka: host:port/);
  });

  it("proxies a MongoDB URI's first host, keeping credentials, database and options", () => {
    const uri = 'mongodb://soak:s%40cret@db1.example:27018,db2.example:27019/admin?replicaSet=rs0&authSource=admin';
    expect(mongoTarget(uri, '--mongo-a')).toEqual({ host: 'db1.example', port: 27018 });
    expect(mongoTarget('mongodb://localhost/?directConnection=true', '--mongo-a')).toEqual({ host: 'localhost', port: 27017 });
    expect(proxiedMongoUri(uri, 40001)).toBe('mongodb://soak:s%40cret@127.0.0.1:40001/admin?replicaSet=rs0&authSource=admin&directConnection=true');
    expect(proxiedMongoUri('mongodb://127.0.0.1:27017', 40001)).toBe('mongodb://127.0.0.1:40001/?directConnection=true');
    expect(() => mongoTarget('mongodb+srv://cluster.example/', '--mongo-b')).toThrow(/mongodb\+srv/);
  });
});
