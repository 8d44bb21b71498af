<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/** A task the server accepted: what was pushed, with the id it was given. */
final class QueuedTask
{
    use ReadsHeaders;

    public function __construct(
        private readonly string $id,
        private readonly string $pipeline,
        private readonly Task $task,
    ) {
        $this->headers = $task->getHeaders();
    }

    public function getId(): string
    {
        return $this->id;
    }

    public function getPipeline(): string
    {
        return $this->pipeline;
    }

    public function getName(): string
    {
        return $this->task->getName();
    }

    public function getPayload(): string
    {
        return $this->task->getPayload();
    }

    public function getOptions(): Options
    {
        return $this->task->getOptions();
    }
}
