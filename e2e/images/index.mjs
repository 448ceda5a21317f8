// The image scripts' public API, for the e2e setup (deploying the fixtures and the product into the
// local cluster) and for e2e/bin/images.mjs.
export { PROVIDERS, REPOSITORY_ROOT, buildImages, selectProvider } from './buildImages.mjs';
export { ImageCheckError } from './checkImage.mjs';
export { startContainerd } from './containerd.mjs';
export { PAUSE_IMAGE, ensurePauseImage } from './hostBaseImages.mjs';
export { IMAGE_DEFINITIONS, IMAGE_TAG, imageName } from './imageDefinitions.mjs';
export { KUBERNETES_NAMESPACE, loadImages } from './loadImages.mjs';
