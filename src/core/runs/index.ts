export * from './runs';
export * from './events';
export * from './state';
