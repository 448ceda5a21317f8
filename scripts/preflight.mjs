// Checks what the npm scripts need from the system before they run, and says exactly what to do when
// something is missing. Node.js itself cannot be installed from here, so its check only explains.
const [major, minor] = process.versions.node.split('.').map(Number);
const REQUIRED = { major: 20, minor: 19 };

if (major < REQUIRED.major || (major === REQUIRED.major && minor < REQUIRED.minor)) {
  console.error(
    `shardfleet needs Node.js ${REQUIRED.major}.${REQUIRED.minor} or later (vitest 4 and vite 8 do); this is ${process.version}.\n` +
      'Install a current Node.js 20 or 22 (for example `nvm install 22`) and run the command again.',
  );
  process.exit(1);
}
