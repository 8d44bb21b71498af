<?php

declare(strict_types=1);

namespace Coyote\RPC;

/**
 * The `metrics` RPC service: declare collectors and update them from PHP;
 * the server exposes them on its Prometheus endpoint.
 */
final class Metrics
{
    public function __construct(private RPC $rpc)
    {
    }

    /**
     * @param 'counter'|'gauge'|'histogram'|'summary' $type
     * @param list<string> $labels
     * @param list<float> $buckets
     * @param array<string, float> $objectives quantile => allowed error
     */
    public function declare(
        string $name,
        string $type,
        string $help = '',
        array $labels = [],
        array $buckets = [],
        array $objectives = [],
        string $namespace = '',
        string $subsystem = '',
    ): void {
        $this->rpc->call('metrics.Declare', [
            'name' => $name,
            'collector' => [
                'namespace' => $namespace,
                'subsystem' => $subsystem,
                'type' => $type,
                'help' => $help,
                'labels' => $labels,
                'buckets' => $buckets,
                'objectives' => (object) $objectives,
            ],
        ]);
    }

    /** @param list<string> $labels */
    public function add(string $name, float $value, array $labels = []): void
    {
        $this->rpc->call('metrics.Add', ['name' => $name, 'value' => $value, 'labels' => $labels]);
    }

    /** @param list<string> $labels */
    public function sub(string $name, float $value, array $labels = []): void
    {
        $this->rpc->call('metrics.Sub', ['name' => $name, 'value' => $value, 'labels' => $labels]);
    }

    /** @param list<string> $labels */
    public function set(string $name, float $value, array $labels = []): void
    {
        $this->rpc->call('metrics.Set', ['name' => $name, 'value' => $value, 'labels' => $labels]);
    }

    /** @param list<string> $labels */
    public function observe(string $name, float $value, array $labels = []): void
    {
        $this->rpc->call('metrics.Observe', ['name' => $name, 'value' => $value, 'labels' => $labels]);
    }

    public function unregister(string $name): void
    {
        $this->rpc->call('metrics.Unregister', $name);
    }
}
