<?php

declare(strict_types=1);

// The classic entry point (nginx + php-fpm): the application is built for
// every request, as PHP runs it without an application server.
$app = require __DIR__ . '/../bootstrap/app.php';
$app->run();
