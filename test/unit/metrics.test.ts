import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

import { formatLabels, formatMetrics } from '../../src/api/metrics.js';
import type { ReverseStatus } from '../../src/port/reverse.js';
import type { PortStatus } from '../../src/port/types.js';

const PORTS: PortStatus[] = [
  { id: 1, spec: { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 }, stats: { connections: 5, active: 1, bytesToChild: 2 ** 40, bytesFromChild: 7, refused: 2 } },
  {
    id: 2,
    spec: { proto: 'udp6', parentIP: '::1', parentPort: 5353, childIP: '::1', childPort: 53 },
    stats: { flows: 3, active: 2, datagramsToChild: 10, datagramsFromChild: 9, bytesToChild: 1000, bytesFromChild: 900, dropped: 1 },
  },
  { id: 3, spec: { proto: 'tcp', parentPort: 9090, childPort: 90 } },
];

function family(families: PrometheusFamily[], name: string): PrometheusFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `family ${name}`);
  return found;
}

describe('formatMetrics', () => {
  const REVERSE: ReverseStatus[] = [
    { id: 1, spec: { proto: 'tcp', childIP: '127.0.0.1', childPort: 5432, parentIP: '::1', parentPort: 5433 }, stats: { connections: 4, active: 0, bytesToParent: 40, bytesFromParent: 400, refused: 1 } },
  ];
  const families = parsePrometheusTextFormat(formatMetrics(PORTS, REVERSE, { parent: process.pid, gone: 2 ** 22 + 1 }));

  test('a Prometheus text parser reads every family with its type and help', () => {
    assert.deepEqual(
      families.map((f) => [f.name, f.type]),
      [
        ['nsgate_ports', 'GAUGE'],
        ['nsgate_reverse_ports', 'GAUGE'],
        ['nsgate_port_connections_total', 'COUNTER'],
        ['nsgate_port_flows_total', 'COUNTER'],
        ['nsgate_port_active', 'GAUGE'],
        ['nsgate_port_bytes_total', 'COUNTER'],
        ['nsgate_port_datagrams_total', 'COUNTER'],
        ['nsgate_port_refused_total', 'COUNTER'],
        ['nsgate_port_dropped_total', 'COUNTER'],
        ['nsgate_reverse_port_connections_total', 'COUNTER'],
        ['nsgate_reverse_port_flows_total', 'COUNTER'],
        ['nsgate_reverse_port_active', 'GAUGE'],
        ['nsgate_reverse_port_bytes_total', 'COUNTER'],
        ['nsgate_reverse_port_datagrams_total', 'COUNTER'],
        ['nsgate_reverse_port_refused_total', 'COUNTER'],
        ['nsgate_reverse_port_dropped_total', 'COUNTER'],
        ['nsgate_process_open_fds', 'GAUGE'],
        ['nsgate_process_resident_memory_bytes', 'GAUGE'],
      ],
    );
    assert.ok(families.every((f) => f.help.length > 0));
  });

  test('port samples carry id, proto, parent and child; a port without stats has none', () => {
    assert.deepEqual(family(families, 'nsgate_ports').metrics, [{ value: '3' }]);
    assert.deepEqual(family(families, 'nsgate_port_connections_total').metrics, [{ value: '5', labels: { id: '1', proto: 'tcp', parent: '127.0.0.1:8080', child: ':80' } }]);
    assert.deepEqual(family(families, 'nsgate_port_flows_total').metrics, [{ value: '3', labels: { id: '2', proto: 'udp6', parent: '[::1]:5353', child: '[::1]:53' } }]);
    assert.deepEqual(family(families, 'nsgate_port_active').metrics.map((m) => [m.labels?.id, m.value]), [['1', '1'], ['2', '2']]);
    assert.deepEqual(
      family(families, 'nsgate_port_bytes_total').metrics.map((m) => [m.labels?.id, m.labels?.direction, m.value]),
      [['1', 'to_child', String(2 ** 40)], ['1', 'from_child', '7'], ['2', 'to_child', '1000'], ['2', 'from_child', '900']],
    );
    assert.deepEqual(family(families, 'nsgate_port_datagrams_total').metrics.map((m) => [m.labels?.direction, m.value]), [['to_child', '10'], ['from_child', '9']]);
    assert.deepEqual(family(families, 'nsgate_port_refused_total').metrics.map((m) => m.value), ['2']);
    assert.deepEqual(family(families, 'nsgate_port_dropped_total').metrics.map((m) => m.value), ['1']);
  });

  test('reverse ports: their own families, labelled child then parent, directions to and from the parent', () => {
    assert.deepEqual(family(families, 'nsgate_reverse_ports').metrics, [{ value: '1' }]);
    assert.deepEqual(family(families, 'nsgate_reverse_port_connections_total').metrics, [{ value: '4', labels: { id: '1', proto: 'tcp', child: '127.0.0.1:5432', parent: '[::1]:5433' } }]);
    assert.deepEqual(family(families, 'nsgate_reverse_port_bytes_total').metrics.map((m) => [m.labels?.direction, m.value]), [['to_parent', '40'], ['from_parent', '400']]);
    assert.deepEqual(family(families, 'nsgate_reverse_port_refused_total').metrics.map((m) => m.value), ['1']);
  });

  test('process metrics for the processes /proc shows; a gone one is left out', () => {
    const fds = family(families, 'nsgate_process_open_fds').metrics;
    assert.deepEqual(fds.map((m) => m.labels), [{ process: 'parent' }]);
    assert.ok(Number(fds[0]!.value) > 2);
    const rss = Number(family(families, 'nsgate_process_resident_memory_bytes').metrics[0]!.value);
    assert.ok(Math.abs(rss - process.memoryUsage.rss()) < 64 * 1024 * 1024, 'RSS in bytes, about what Node says');
  });

  test('label values are escaped so that a parser reads them back', () => {
    const tricky = 'a "quoted" \\ back\nslash';
    const text = `# TYPE x gauge\nx${formatLabels({ v: tricky })} 1\n`;
    assert.equal(parsePrometheusTextFormat(text)[0]!.metrics[0]!.labels!.v, tricky);
  });
});
