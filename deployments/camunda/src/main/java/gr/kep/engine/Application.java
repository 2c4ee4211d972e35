package gr.kep.engine;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * The engine process: the Camunda 7 Spring Boot starter does the rest (REST API, job executor, auto-deployment).
 * No @EnableProcessApplication: that would switch to processes.xml and turn off the pattern-based auto-deployment.
 */
@SpringBootApplication
public class Application {
  public static void main(String[] args) {
    SpringApplication.run(Application.class, args);
  }
}
