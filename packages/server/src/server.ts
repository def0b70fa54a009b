// Placeholder runner until the HTTP service lands (issue: HTTP service).
console.log('Tether: the server arrives with its issue; the run statechart is in packages/machine.');
