<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * A task prepared for a pipeline and not yet pushed (Queue::create): the
 * name (jobs.v1 Job.job), the payload (Job.payload, a protobuf string, so
 * it must be valid UTF-8: encode binary data first, e.g. base64), headers
 * (Job.headers) and Options. The id is chosen when it is pushed.
 */
final class Task
{
    use ChangesHeaders;

    /**
     * @param array<string, string|list<string>> $headers
     * @throws \InvalidArgumentException on an empty name, a payload that is not UTF-8 or a bad header
     */
    public function __construct(
        private readonly string $name,
        private readonly string $payload,
        array $headers = [],
        private Options $options = new Options(),
    ) {
        if ($name === '') {
            throw new \InvalidArgumentException('a task name must not be empty');
        }
        if (preg_match('//u', $payload) !== 1) {
            throw new \InvalidArgumentException(
                'a task payload must be valid UTF-8 (jobs.v1 Job.payload is a protobuf string)',
            );
        }
        $this->headers = Headers::normalize($headers);
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function getPayload(): string
    {
        return $this->payload;
    }

    public function getOptions(): Options
    {
        return $this->options;
    }

    public function withOptions(Options $options): self
    {
        $self = clone $this;
        $self->options = $options;
        return $self;
    }
}
