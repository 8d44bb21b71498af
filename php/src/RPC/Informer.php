<?php

declare(strict_types=1);

namespace Coyote\RPC;

/** `informer` and `resetter`: plugins, their workers, rolling resets. */
final class Informer
{
    public function __construct(private RPC $rpc)
    {
    }

    /** @return list<string> plugins that have workers */
    public function plugins(): array
    {
        return $this->rpc->call('informer.List', true);
    }

    /** @return list<array<string, mixed>> RoadRunner's worker state objects */
    public function workers(string $plugin): array
    {
        return $this->rpc->call('informer.Workers', $plugin)['workers'] ?? [];
    }

    public function addWorker(string $plugin): bool
    {
        return (bool) $this->rpc->call('informer.AddWorker', $plugin);
    }

    public function removeWorker(string $plugin): bool
    {
        return (bool) $this->rpc->call('informer.RemoveWorker', $plugin);
    }

    /** Replaces every worker of the plugin; returns once done. */
    public function reset(string $plugin): bool
    {
        return (bool) $this->rpc->call('resetter.Reset', $plugin);
    }
}
