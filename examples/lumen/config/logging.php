<?php

declare(strict_types=1);

// Logs go to STDERR: Coyote puts a worker's STDERR into its own log,
// php-fpm into its error log. Nothing is written under the app's directory.
return [
    'default' => 'stderr',
    'channels' => [
        'stderr' => [
            'driver' => 'monolog',
            'handler' => Monolog\Handler\StreamHandler::class,
            'with' => ['stream' => 'php://stderr'],
            'level' => 'debug',
        ],
    ],
];
