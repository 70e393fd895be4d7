import path from 'node:path';
import { imagesDir, projectRoot } from '../../../src/shared/paths';

describe('imagesDir: where every bench, load run and test finds the shared test photos', () => {
  const saved = process.env.TEST_IMAGES_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TEST_IMAGES_DIR;
    else process.env.TEST_IMAGES_DIR = saved;
  });

  it('is TEST_IMAGES_DIR when set, made absolute', () => {
    process.env.TEST_IMAGES_DIR = 'some/photos';
    expect(imagesDir()).toBe(path.resolve('some/photos'));
  });

  it('is ../shared/images beside the checkout when TEST_IMAGES_DIR is unset or empty', () => {
    const beside = path.join(path.dirname(projectRoot()), 'shared', 'images');
    delete process.env.TEST_IMAGES_DIR;
    expect(imagesDir()).toBe(beside);
    process.env.TEST_IMAGES_DIR = '';
    expect(imagesDir()).toBe(beside);
  });
});
